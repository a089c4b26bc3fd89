/**
 * Error classes with stable `code`s. Match on `err.code` (or {@link isPluginError}), not on
 * `instanceof`: a bundled plugin and a separately installed SDK are two copies of these classes.
 */

/** Every code the SDK raises. Codes are API: they are documented in the README. */
export const ErrorCode = {
  ENV_MISSING: 'SIP003_ENV_MISSING',
  ENV_INVALID: 'SIP003_ENV_INVALID',
  OPTION_SYNTAX: 'SIP003_OPTION_SYNTAX',
  OPTION_UNKNOWN: 'SIP003_OPTION_UNKNOWN',
  OPTION_INVALID: 'SIP003_OPTION_INVALID',
  MODE_MISMATCH: 'SIP003_MODE_MISMATCH',
  LISTEN_FAILED: 'SIP003_LISTEN_FAILED',
  DIAL_FAILED: 'SIP003_DIAL_FAILED',
  TIMEOUT: 'SIP003_TIMEOUT',
  PROTOCOL: 'SIP003_PROTOCOL',
  USAGE: 'SIP003_USAGE',
  BUNDLE_FAILED: 'SIP003_BUNDLE_FAILED',
  /** A managed pluggable transport (`@sip003/sdk/pt`) broke its protocol or exited. */
  PT_FAILED: 'SIP003_PT_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error the SDK throws on purpose. */
export class PluginError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
PluginError.prototype.name = 'PluginError';

/** An SS_* environment variable is missing or malformed. */
export class EnvError extends PluginError {
  readonly variable: string;
  readonly expected: string;
  readonly received: string | undefined;
  constructor(variable: string, expected: string, received: string | undefined) {
    const got = received === undefined ? 'it is not set' : `got ${JSON.stringify(received)}`;
    super(
      received === undefined || received === '' ? ErrorCode.ENV_MISSING : ErrorCode.ENV_INVALID,
      `${variable} must be ${expected}, ${got}`,
    );
    this.variable = variable;
    this.expected = expected;
    this.received = received;
  }
}
EnvError.prototype.name = 'EnvError';

/**
 * SS_PLUGIN_OPTIONS (or an argv flag) is malformed, unknown or out of range. A plugin's `check`
 * rejects a combination of options with {@link OptionsError.invalid}.
 */
export class OptionsError extends PluginError {
  readonly option: string;
  readonly expected: string;
  /** The value as typed; `<secret>` for a secret option, undefined when it was not given. */
  readonly received: string | undefined;
  constructor(
    code: ErrorCode,
    option: string,
    expected: string,
    received: string | undefined,
    message?: string,
    options?: ErrorOptions,
  ) {
    const got = received === undefined ? 'got nothing' : `got ${JSON.stringify(received)}`;
    super(code, message ?? `${option}: expected ${expected}, ${got}`, options);
    this.option = option;
    this.expected = expected;
    this.received = received;
  }

  /**
   * `option`'s value is not acceptable, for a reason the message gives:
   * `OptionsError.invalid('pad-max', 'must be at least pad-min (8)')` reads
   * `pad-max: must be at least pad-min (8)`. Code `SIP003_OPTION_INVALID`; `runMain` exits 2.
   */
  static invalid(option: string, message: string, options?: ErrorOptions): OptionsError {
    return new OptionsError(
      ErrorCode.OPTION_INVALID,
      option,
      message,
      undefined,
      `${option}: ${message}`,
      options,
    );
  }
}
OptionsError.prototype.name = 'OptionsError';

/** A listening socket could not be opened. `cause` is the errno error. */
export class ListenError extends PluginError {
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, message: string, options?: ErrorOptions) {
    super(ErrorCode.LISTEN_FAILED, message, options);
    this.host = host;
    this.port = port;
  }
}
ListenError.prototype.name = 'ListenError';

/** A peer sent bytes that are not the protocol. Per connection, never fatal. */
export class ProtocolError extends PluginError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.PROTOCOL, message, options);
  }
}
ProtocolError.prototype.name = 'ProtocolError';

/** True for any error raised by any copy of this SDK (checks the code prefix). */
export function isPluginError(error: unknown): error is PluginError {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SIP003_');
}

/** Node's errno code of an error, if any (`ECONNREFUSED`, ...). */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
