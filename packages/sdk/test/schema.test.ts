import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, expectTypeOf } from 'vitest';
import { option, type OptionShape } from '../src/schema.ts';
import { describeOptions, validateOptions } from '../src/shape.ts';
import { parseOptions } from '../src/options.ts';

const check = (shape: OptionShape, text: string) =>
  validateOptions(parseOptions(text), { shape }).values as Record<string, unknown>;
const failure = (shape: OptionShape, text: string): unknown => {
  try {
    check(shape, text);
  } catch (error) {
    return error;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
};

describe('required and secret', () => {
  const shape = {
    key: option.hex({ length: 16, required: true, secret: true }),
    name: option.string({ required: true }),
  };
  it('names every missing required option on one line', () => {
    expect(failure(shape, '')).toMatchObject({
      code: 'SIP003_OPTION_INVALID',
      option: 'key',
      received: undefined,
      message:
        'key: required, expected 16 bytes in hex, got nothing; name: required, expected a value, got nothing',
    });
  });
  it('never quotes a secret value, in the message or in the error object', () => {
    const secret = 'aabbccddeeff00112233445566778899aa';
    const error = failure(shape, `name=x;key=${secret}`);
    expect(error).toMatchObject({
      option: 'key',
      received: '<secret>',
      message: 'key: expected 16 bytes in hex, got <secret> (17 bytes)',
    });
    expect(JSON.stringify(error) + String(error)).not.toContain(secret);
  });
  it('refuses a default on a required option when it is declared', () => {
    expect(() => option.int({ default: 1, required: true })).toThrow(TypeError);
  });
  it('types a required or defaulted option as always present', () => {
    const { values } = validateOptions(
      parseOptions('key=00112233445566778899aabbccddeeff;name=n'),
      {
        shape: { ...shape, opt: option.int(), def: option.port({ default: 80 }) },
      },
    );
    expectTypeOf(values.key).toEqualTypeOf<Buffer>();
    expectTypeOf(values.name).toEqualTypeOf<string>();
    expectTypeOf(values.opt).toEqualTypeOf<number | undefined>();
    expectTypeOf(values.def).toEqualTypeOf<number>();
    expect(values.key).toEqual(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
  });
});

describe('byte builders', () => {
  const shape = {
    h: option.hex({ min: 2, max: 4 }),
    b: option.base64({ length: 3 }),
    t: option.bytes({ max: 4 }),
  };
  it('yield Buffers', () => {
    expect(check(shape, 'h=a0B1;b=aGk/;t=é')).toEqual({
      ...check(shape, ''),
      h: Buffer.from([0xa0, 0xb1]),
      b: Buffer.from([0x68, 0x69, 0x3f]),
      t: Buffer.from('é'),
    });
    expect(check(shape, 'b=aGk_')['b']).toEqual(Buffer.from([0x68, 0x69, 0x3f]));
  });
  it.each([
    ['h=a', 'h: expected 2 to 4 bytes in hex, got "a" (an odd number of hex digits)'],
    ['h=zz', 'h: expected 2 to 4 bytes in hex, got "zz" (not hex digits)'],
    ['h=00', 'h: expected 2 to 4 bytes in hex, got "00" (1 bytes)'],
    ['h', 'h: expected 2 to 4 bytes in hex, got a bare flag'],
    ['b=aGk', 'b: expected 3 bytes in base64, got "aGk" (2 bytes)'],
    ['b=a!b=', 'b: expected 3 bytes in base64, got "a!b=" (not base64)'],
    ['b=aGk/=', 'b: expected 3 bytes in base64, got "aGk/=" (not base64)'],
    ['t=éé€', 't: expected text of at most 4 bytes (UTF-8), got "éé€" (7 bytes)'],
  ])('%j → %s', (text, message) => {
    expect(failure(shape, text)).toMatchObject({ code: 'SIP003_OPTION_INVALID', message });
  });
  it('hands out a copy of a default Buffer', () => {
    const salt = option.hex({ default: Buffer.from([1, 2]) });
    const first = salt.read(undefined, 'salt');
    first[0] = 9;
    expect(salt.read(undefined, 'salt')).toEqual(Buffer.from([1, 2]));
  });
});

describe('port, list and file', () => {
  it('reads ports 1 to 65535', () => {
    const shape = { p: option.port() };
    expect(check(shape, 'p=65535')['p']).toBe(65535);
    expect(failure(shape, 'p=0')).toMatchObject({
      message: 'p: expected a port from 1 to 65535, got "0"',
    });
  });
  it('reads comma-separated items with the item builder', () => {
    const shape = { ports: option.list(option.port(), { min: 1, max: 3 }) };
    expect(check(shape, 'ports=80,443')['ports']).toEqual([80, 443]);
    expectTypeOf(
      validateOptions([], { shape: { l: option.list(option.int(), { default: [] }) } }).values.l,
    ).toEqualTypeOf<number[]>();
    expect(failure(shape, 'ports=80,x')).toMatchObject({
      message:
        'ports: expected a comma-separated list of <port> (1..3 items), got "80,x" (item 2: expected a port from 1 to 65535, got "x")',
    });
    expect(failure(shape, 'ports=')).toMatchObject({
      message: 'ports: expected a comma-separated list of <port> (1..3 items), got "" (0 items)',
    });
  });
  it('keeps a secret list item out of its message', () => {
    const shape = { keys: option.list(option.hex({ length: 2 }), { secret: true }) };
    expect(check(shape, 'keys=0001,0203')['keys']).toEqual([
      Buffer.from([0, 1]),
      Buffer.from([2, 3]),
    ]);
    const error = failure(shape, 'keys=0001,abcd99');
    expect(error).toMatchObject({
      message:
        'keys: expected a comma-separated list of <hex, 2 bytes>, got <secret> (item 2: expected 2 bytes in hex, 3 bytes)',
    });
  });
  it('reads a file that exists and can be read, as an absolute path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sip003-file-'));
    try {
      const file = join(dir, 'key.txt');
      writeFileSync(file, 'k');
      const shape = { f: option.file() };
      expect(check(shape, `f=${file}`)['f']).toBe(file);
      expect(failure(shape, `f=${join(dir, 'none')}`)).toMatchObject({
        message: `f: expected a readable file, got ${JSON.stringify(join(dir, 'none'))} (no such file)`,
      });
      expect(failure(shape, `f=${dir}`)).toMatchObject({
        message: `f: expected a readable file, got ${JSON.stringify(dir)} (not a regular file)`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('option.custom', () => {
  const crc = option.custom(
    (text): 'crc32' | 'crc32c' => {
      if (text === 'crc32' || text === 'crc32c') return text;
      throw new Error(`unknown CRC ${text}`);
    },
    { expected: 'crc32 or crc32c', default: 'crc32' as const, description: 'frame checksum' },
  );
  const even = option.custom((text) => (/^\d*[02468]$/.test(text) ? Number(text) : undefined), {
    expected: 'an even number',
  });
  const pin = option.custom(
    (text) => {
      if (text.length !== 4) throw new Error(`bad pin ${text}`);
      return text;
    },
    { expected: 'a 4-digit pin', secret: true, required: true },
  );
  const shape = { crc, even, pin };
  it('reads values with the author function', () => {
    const values = validateOptions(parseOptions('crc=crc32c;even=12;pin=1234'), { shape }).values;
    expect(values).toMatchObject({ crc: 'crc32c', even: 12, pin: '1234' });
    expectTypeOf(values.crc).toEqualTypeOf<'crc32' | 'crc32c'>();
    expectTypeOf(values.even).toEqualTypeOf<number | undefined>();
    expectTypeOf(values.pin).toEqualTypeOf<string>();
  });
  it.each([
    ['pin=1234;crc=md5', 'crc: expected crc32 or crc32c, got "md5" (unknown CRC md5)'],
    ['pin=1234;even=3', 'even: expected an even number, got "3"'],
    ['pin=1234;even', 'even: expected an even number, got a bare flag'],
    ['pin=12345', 'pin: expected a 4-digit pin, got <secret>'],
    ['', 'pin: required, expected a 4-digit pin, got nothing'],
  ])('%j → %s, in the built-in words', (text, message) => {
    expect(failure(shape, text)).toMatchObject({ code: 'SIP003_OPTION_INVALID', message });
  });
  it('shows in --help like the built-ins', () => {
    expect(describeOptions(shape).slice(-3)).toEqual([
      '  crc                <crc32 or crc32c>        frame checksum (default: crc32)',
      '  even               <an even number>',
      '  pin                <a 4-digit pin>          required, secret',
    ]);
  });
  it('never lets zod text through, whatever a caller hands it', () => {
    expect(() => crc.read(3 as unknown as string, 'crc')).toThrow(
      'crc: expected crc32 or crc32c, got 3',
    );
  });
});
