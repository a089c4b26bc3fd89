/**
 * @packageDocumentation
 * Building blocks for codecs: a bounded byte reader for incremental parsers, a length-prefixed
 * framing, and `compose` to chain codecs and Duplex streams in one session.
 */
export { ByteReader } from './byte-reader.ts';
export type { ByteReaderOptions } from './byte-reader.ts';
export { lengthPrefixed } from './frames.ts';
export type { LengthPrefixedOptions } from './frames.ts';
export { compose } from './compose.ts';
