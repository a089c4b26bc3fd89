/**
 * @packageDocumentation
 * The smallest SIP003 plugin: it passes bytes through untouched. Read it as the SDK's
 * hello world: a plugin is a name and, when it transforms bytes, a session of two codecs.
 */
import { definePlugin } from '@sip003/sdk';

/** A plain relay: no options of its own, no codecs, so the SDK pipes sockets directly. */
const noopPlugin = definePlugin({
  name: 'noop-plugin',
  description: 'passes bytes through unchanged (the SDK hello world)',
});

export default noopPlugin;
