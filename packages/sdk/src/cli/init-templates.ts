/**
 * The files `sip003 init` writes: a plugin project that typechecks, tests, bundles and runs as it
 * is. Versions of the dev tools are the ones this SDK is developed and tested with.
 */

export interface TemplateInput {
  /** npm package name, also the plugin's and the executable's name. */
  name: string;
  /** The `@sip003/sdk` dependency: a version range, or `file:` a packed tarball. */
  sdk: string;
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

function packageJson({ name, sdk }: TemplateInput): string {
  return json({
    name,
    version: '0.1.0',
    description: `${name}: a shadowsocks SIP003 plugin`,
    private: true,
    type: 'module',
    engines: { node: '>=20' },
    bin: { [name]: `./dist/${name}` },
    scripts: {
      test: 'vitest run',
      typecheck: 'tsc -p tsconfig.json',
      build: `sip003 bundle src/main.ts -o dist/${name}`,
      bundle: `sip003 bundle src/main.ts -o dist/bin/${name} --standalone`,
    },
    dependencies: { '@sip003/sdk': sdk },
    devDependencies: {
      '@types/node': '^20.19.43',
      // `sip003 bundle` loads esbuild from the project (an optional peer of the SDK).
      esbuild: '^0.28.2',
      // `sip003 run src/main.ts` and `sip003 dev` run the TypeScript entry through tsx.
      tsx: '^4.23.15',
      typescript: '^6.0.3',
      vitest: '^4.1.12',
    },
  });
}

// Type-checks only (`noEmit`): tsx-style `.ts` imports need allowImportingTsExtensions, and the
// bundler, not tsc, builds the executable.
const TSCONFIG = json({
  compilerOptions: {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2023',
    lib: ['es2023'],
    types: ['node'],
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
  },
  include: ['src', 'test'],
});

function indexTs({ name }: TemplateInput): string {
  return `import { definePlugin, option, ProtocolError, type Codec } from '@sip003/sdk';

/**
 * The plugin: its options and one session per connection. A toy protocol to start from: each
 * direction opens with the 2-byte magic "SP", then every byte is XORed with \`key\`. Bytes that
 * do not start with the magic are a ProtocolError, which resets that connection only.
 */
const MAGIC = Buffer.from('SP');

const plugin = definePlugin({
  name: '${name}',
  description: 'a shadowsocks SIP003 plugin',
  options: {
    key: option.int({ min: 0, max: 255, default: 0x5a, description: 'xor key byte' }),
  },
  session: (ctx) => {
    const key = ctx.options.key;
    const xor = (chunk: Buffer): Buffer => {
      const out = Buffer.allocUnsafe(chunk.length);
      for (let i = 0; i < chunk.length; i++) out[i] = (chunk[i] ?? 0) ^ key;
      return out;
    };
    let magicSent = false;
    let magicSeen = 0;
    const encode: Codec = {
      transform(chunk, push) {
        if (!magicSent) {
          magicSent = true;
          push(MAGIC);
        }
        push(xor(chunk));
      },
    };
    const decode: Codec = {
      transform(chunk, push) {
        while (magicSeen < MAGIC.length && chunk.length > 0) {
          if (chunk[0] !== MAGIC[magicSeen]) throw new ProtocolError('no SP magic');
          magicSeen++;
          chunk = chunk.subarray(1);
        }
        if (chunk.length > 0) push(xor(chunk));
      },
    };
    return { encode, decode };
  },
});

export default plugin;
`;
}

const MAIN_TS = `#!/usr/bin/env node
import { runMain } from '@sip003/sdk';
import plugin from './index.ts';

void runMain(plugin);
`;

function testTs({ name }: TemplateInput): string {
  return `import { describe, expect, it } from 'vitest';
import { checkCodecRoundTrip, collect, startEchoServer, startPluginPair } from '@sip003/sdk/testing';
import plugin from '../src/index.ts';

describe('${name}', () => {
  it('carries bytes through a client/server pair', async () => {
    const echo = await startEchoServer();
    const pair = await startPluginPair(plugin, { target: { port: echo.port }, options: { key: 7 } });
    try {
      const socket = await pair.connect();
      const reply = collect(socket);
      socket.end('hello');
      expect((await reply).toString()).toBe('hello');
    } finally {
      await pair.close();
      await echo.close();
    }
  });

  it('passes the SDK conformance check', async () => {
    await checkCodecRoundTrip(plugin, { options: { key: 7 }, largeBytes: 4 * 1024 * 1024 });
  }, 120_000);
});
`;
}

function readme({ name }: TemplateInput): string {
  return `# ${name}

A shadowsocks SIP003 plugin written with [@sip003/sdk](https://www.npmjs.com/package/@sip003/sdk).

\`\`\`sh
npm install
npm test            # a client/server pair in-process, and the SDK conformance check
npm run typecheck
npm run build       # dist/${name}: one file, needs Node.js 20+ on the host
npm run bundle      # dist/bin/${name}: a single executable, no Node.js needed
npx sip003 run dist/${name} --options key=90 --bytes 4MiB
npx sip003 run src/main.ts --bytes 4MiB   # the sources as they are, through tsx
npx sip003 dev src/main.ts                # a pair that restarts when a file in src/ changes
\`\`\`

The plugin is \`src/index.ts\`; \`src/main.ts\` is the executable's entry.
`;
}

/** Relative path → contents. */
export function projectFiles(input: TemplateInput): ReadonlyMap<string, string> {
  return new Map([
    ['package.json', packageJson(input)],
    ['tsconfig.json', TSCONFIG],
    ['.gitignore', 'node_modules/\ndist/\n'],
    ['README.md', readme(input)],
    ['src/index.ts', indexTs(input)],
    ['src/main.ts', MAIN_TS],
    ['test/plugin.test.ts', testTs(input)],
  ]);
}
