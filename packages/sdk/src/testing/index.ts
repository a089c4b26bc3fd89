/**
 * @packageDocumentation
 * Test kit for plugin authors, independent of any test runner: start a plugin pair in-process on
 * real loopback sockets, loopback servers, and the codec conformance check.
 */
export { startPluginPair } from './pair.ts';
export type { PluginPair, PluginPairOptions } from './pair.ts';
export type { PairOptionValues } from './pair.ts';
export { checkCodecRoundTrip } from './conformance.ts';
export type { ConformanceOptions, ConformanceReport } from './conformance.ts';
export { conformanceSteps } from './conformance.ts';
export type { ConformanceStep } from './conformance.ts';
export { checkCodecSplits, runCodec } from './splits.ts';
export type { CodecSplitsReport } from './splits.ts';
export {
  startEchoServer,
  startReplyAfterFinServer,
  collect,
  openConnection,
  sha256,
  seededBytes,
  writeChunked,
  startHashServer,
  startSourceServer,
  hashStream,
  readAtLeast,
  endedByReset,
} from './servers.ts';
export type { TestServer } from './servers.ts';
export {
  REQUIRE_INTEROP,
  findBinary,
  missingBinaries,
  freePort,
  waitForPort,
  startProcess,
  isRunning,
  loopbackPluginEnv,
} from './processes.ts';
export type { ManagedProcess } from './processes.ts';
export { startShadowsocks, socks5Connect, checkTransfers, curl } from './shadowsocks.ts';
export type {
  TransferReport,
  ShadowsocksOptions,
  ShadowsocksPair,
  CurlResult,
} from './shadowsocks.ts';
