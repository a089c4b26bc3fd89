import { ErrorCode, PluginError } from '../errors.ts';

/** A `SIP003_USAGE` error: the command line is wrong (exit 64). */
export function usageError(message: string): PluginError {
  return new PluginError(ErrorCode.USAGE, message);
}

/** A `SIP003_BUNDLE_FAILED` error: the build itself failed (exit 70). */
export function bundleError(message: string, cause?: unknown): PluginError {
  return new PluginError(
    ErrorCode.BUNDLE_FAILED,
    message,
    cause === undefined ? undefined : { cause },
  );
}

/** The message of whatever was thrown. */
export function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
