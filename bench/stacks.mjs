// The table of stacks the bench can measure, and the goals it reports against. This is the only
// file to edit to add a stack, change a plugin's path or options, or move a goal.
//
// kind:
//   'direct'   client → sink, nothing in between (the loopback + load generator ceiling).
//   'pair'     client → plugin client → plugin server → sink. `client` and `server` are started
//              as SIP003 plugins (SS_* environment, SS_PLUGIN_OPTIONS = `options`).
//   'ss-libev' client → ss-local (SOCKS5) → [plugin client → plugin server] → ss-server → sink,
//              method chacha20-ietf-poly1305; ss-local/ss-server start the plugin themselves
//              with `--plugin <bin> --plugin-opts <options>`. No plugin when `client` is absent.
// extra: true leaves the stack out of the default set (run it with --all or --only).
// bin: a name containing '/' is a path relative to the repository root; otherwise looked up on
// PATH. `install` is what to run when it is missing.

import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OBFS_HTTP = 'packages/obfs-http-plugin/dist/obfs-http-plugin';
const NOOP = 'packages/noop-plugin/dist/noop-plugin';
const NODE_RELAY = 'bench/lib/node-relay.mjs';
// The standalone executable on the release node (`pnpm bundle`: node 26.12.1, flags inside).
const OBFS_HTTP_STANDALONE = 'dist/bin/obfs-http-plugin';
const BUILD = 'pnpm install && pnpm build';
const BUNDLE = 'pnpm install && pnpm build && pnpm bundle';
const APT_OBFS = 'apt-get install -y simple-obfs';
const APT_SS = 'apt-get install -y shadowsocks-libev';
const OBFS_HOST = 'obfs-host=www.bing.com';

// obfs4 (pt-plugin → obfs4proxy): the client needs the server's cert, so the server runs from a
// fixed, bench-only identity (made once by obfs4proxy; loopback only, never a real server's) and
// the cert is derived from it: base64(node-id ‖ public-key), unpadded.
const PT = 'packages/pt-plugin/dist/pt-plugin';
const OBFS4_IDENTITY = {
  'node-id': '14fab7254deafb8d76c6b27b80eba147485cc006',
  'private-key': '674201ece81fe3d2ccfb3c1031123fbf47f3189337086dfdb9d98507b3d3183a',
  'public-key': 'cb61482f6b191ac244f1c1f246b5b5052b628f5f1b23fdd204ca783e8517362d',
  'drbg-seed': '9a6447937f8dc6f09bddc7ba6ae7e5084588565565bbec2f',
  'iat-mode': 0,
};
const OBFS4_STATE = join(tmpdir(), 'sip003-bench-obfs4');
mkdirSync(OBFS4_STATE, { recursive: true });
writeFileSync(join(OBFS4_STATE, 'obfs4_state.json'), JSON.stringify(OBFS4_IDENTITY));
const OBFS4_CERT = Buffer.from(OBFS4_IDENTITY['node-id'] + OBFS4_IDENTITY['public-key'], 'hex')
  .toString('base64')
  .replace(/=+$/, '');
const PT_INSTALL = 'apt-get install -y obfs4proxy && pnpm install && pnpm build';

const ours = {
  'obfs-http': {
    client: { bin: OBFS_HTTP, options: `obfs=http;${OBFS_HOST}`, install: BUILD },
    server: { bin: OBFS_HTTP, options: 'server;obfs=http', install: BUILD },
  },
  'obfs-tls': {
    client: { bin: OBFS_HTTP, options: `obfs=tls;${OBFS_HOST}`, install: BUILD },
    server: { bin: OBFS_HTTP, options: 'server;obfs=tls', install: BUILD },
  },
  noop: {
    client: { bin: NOOP, options: '', install: BUILD },
    server: { bin: NOOP, options: 'server', install: BUILD },
  },
  'obfs-http-standalone': {
    client: { bin: OBFS_HTTP_STANDALONE, options: `obfs=http;${OBFS_HOST}`, install: BUNDLE },
    server: { bin: OBFS_HTTP_STANDALONE, options: 'server;obfs=http', install: BUNDLE },
  },
  'obfs-tls-standalone': {
    client: { bin: OBFS_HTTP_STANDALONE, options: `obfs=tls;${OBFS_HOST}`, install: BUNDLE },
    server: { bin: OBFS_HTTP_STANDALONE, options: 'server;obfs=tls', install: BUNDLE },
  },
  obfs4: {
    client: {
      bin: PT,
      options: `transport=obfs4;cert=${OBFS4_CERT};iat-mode=0`,
      install: PT_INSTALL,
    },
    server: {
      bin: PT,
      options: `server;transport=obfs4;state=${OBFS4_STATE}`,
      install: PT_INSTALL,
    },
  },
};
const simpleObfs = {
  'simple-obfs-http': {
    client: { bin: 'obfs-local', options: `obfs=http;${OBFS_HOST}`, install: APT_OBFS },
    server: { bin: 'obfs-server', options: 'obfs=http', install: APT_OBFS },
  },
  'simple-obfs-tls': {
    client: { bin: 'obfs-local', options: `obfs=tls;${OBFS_HOST}`, install: APT_OBFS },
    server: { bin: 'obfs-server', options: 'obfs=tls', install: APT_OBFS },
  },
};
const nodeRelay = {
  client: { bin: NODE_RELAY, options: '', install: '(part of bench/; check it is executable)' },
  server: { bin: NODE_RELAY, options: 'server', install: '(part of bench/)' },
};

export const SS_LIBEV = {
  local: { bin: 'ss-local', install: APT_SS },
  server: { bin: 'ss-server', install: APT_SS },
  method: 'chacha20-ietf-poly1305',
  password: 'bench-password',
};

export const STACKS = [
  { name: 'direct', kind: 'direct', group: 'reference', about: 'no plugin: client → sink' },
  {
    name: 'node-relay',
    kind: 'pair',
    group: 'reference',
    about: 'plain Node a.pipe(b) relay pair (bench/lib/node-relay.mjs)',
    ...nodeRelay,
  },
  {
    name: 'obfs-http',
    kind: 'pair',
    group: 'ours',
    about: 'obfs-http-plugin, obfs=http',
    ...ours['obfs-http'],
  },
  {
    name: 'obfs-tls',
    kind: 'pair',
    group: 'ours',
    about: 'obfs-http-plugin, obfs=tls',
    ...ours['obfs-tls'],
  },
  {
    name: 'obfs-http-standalone',
    kind: 'pair',
    group: 'ours',
    about: 'obfs-http-plugin standalone executable (release node), obfs=http',
    ...ours['obfs-http-standalone'],
  },
  {
    name: 'obfs-tls-standalone',
    kind: 'pair',
    group: 'ours',
    about: 'obfs-http-plugin standalone executable (release node), obfs=tls',
    ...ours['obfs-tls-standalone'],
  },
  { name: 'noop', kind: 'pair', group: 'ours', about: 'noop-plugin', ...ours.noop },
  {
    name: 'obfs4',
    kind: 'pair',
    group: 'ours',
    about:
      'pt-plugin obfs4 (obfs4proxy does the crypto; memory counts the plugins, not obfs4proxy)',
    ...ours.obfs4,
  },
  {
    name: 'simple-obfs-http',
    kind: 'pair',
    group: 'simple-obfs',
    about: 'simple-obfs 0.0.5, obfs=http',
    ...simpleObfs['simple-obfs-http'],
  },
  {
    name: 'simple-obfs-tls',
    kind: 'pair',
    group: 'simple-obfs',
    about: 'simple-obfs 0.0.5, obfs=tls',
    ...simpleObfs['simple-obfs-tls'],
  },
  {
    name: 'ss-libev-none',
    kind: 'ss-libev',
    group: 'ss-libev',
    about: 'ss-local → ss-server, no plugin',
  },
  {
    name: 'ss-libev-obfs-http',
    kind: 'ss-libev',
    group: 'ss-libev',
    about: 'ss-libev + obfs-http-plugin http',
    ...ours['obfs-http'],
  },
  {
    name: 'ss-libev-obfs-tls',
    kind: 'ss-libev',
    group: 'ss-libev',
    about: 'ss-libev + obfs-http-plugin tls',
    ...ours['obfs-tls'],
  },
  {
    name: 'ss-libev-noop',
    kind: 'ss-libev',
    group: 'ss-libev',
    about: 'ss-libev + noop-plugin',
    ...ours.noop,
  },
  {
    name: 'ss-libev-simple-obfs-http',
    kind: 'ss-libev',
    group: 'ss-libev',
    about: 'ss-libev + simple-obfs http',
    ...simpleObfs['simple-obfs-http'],
  },
  {
    name: 'ss-libev-simple-obfs-tls',
    kind: 'ss-libev',
    group: 'ss-libev',
    extra: true,
    about: 'ss-libev + simple-obfs tls',
    ...simpleObfs['simple-obfs-tls'],
  },
  {
    name: 'ss-libev-obfs4',
    kind: 'ss-libev',
    group: 'ss-libev',
    about: 'ss-libev + pt-plugin obfs4',
    ...ours.obfs4,
  },
  {
    name: 'ss-libev-node-relay',
    kind: 'ss-libev',
    group: 'ss-libev',
    extra: true,
    about: 'ss-libev + node-relay',
    ...nodeRelay,
  },
];

/**
 * Paired comparisons: per round, stack / baseline for each metric, then the median of those
 * ratios. `goals` maps a metric to [op, value]; metrics without a goal are still reported.
 */
const vsSimpleObfs = {
  upload: ['>=', 2.5],
  download: ['>=', 1.5],
  par8: ['>=', 1.5],
  connRate: ['>=', 1.0],
  p99: ['<=', 1.0],
  memPerConn: ['<=', 1.0],
};
const vsSsLibevNone = { upload: ['>=', 0.85], download: ['>=', 0.85], connRate: ['>=', 0.85] };

export const COMPARISONS = [
  { stack: 'obfs-http', baseline: 'simple-obfs-http', goals: vsSimpleObfs },
  { stack: 'obfs-tls', baseline: 'simple-obfs-tls', goals: vsSimpleObfs },
  { stack: 'obfs-http-standalone', baseline: 'simple-obfs-http', goals: vsSimpleObfs },
  { stack: 'obfs-tls-standalone', baseline: 'simple-obfs-tls', goals: vsSimpleObfs },
  { stack: 'noop', baseline: 'node-relay', goals: {} },
  { stack: 'obfs4', baseline: 'simple-obfs-tls', goals: {} },
  { stack: 'node-relay', baseline: 'direct', goals: {} },
  { stack: 'ss-libev-obfs-http', baseline: 'ss-libev-none', goals: vsSsLibevNone },
  { stack: 'ss-libev-obfs-tls', baseline: 'ss-libev-none', goals: vsSsLibevNone },
  { stack: 'ss-libev-noop', baseline: 'ss-libev-none', goals: vsSsLibevNone },
  { stack: 'ss-libev-simple-obfs-http', baseline: 'ss-libev-none', goals: {} },
  { stack: 'ss-libev-simple-obfs-tls', baseline: 'ss-libev-none', goals: {} },
  { stack: 'ss-libev-node-relay', baseline: 'ss-libev-none', goals: {} },
  { stack: 'ss-libev-obfs4', baseline: 'ss-libev-none', goals: {} },
];
