import { describe, it, expect } from 'vitest';
import {
  formatServerTransportOptions,
  parseKeyValueLine,
  parsePtLine,
  parseSmethodArgs,
} from '../../src/pt/index.ts';

describe('parsePtLine (pt-spec 3.3)', () => {
  it('reads the common, client and server messages', () => {
    expect(parsePtLine('VERSION 1')).toEqual({ kind: 'VERSION', version: '1' });
    expect(parsePtLine('VERSION-ERROR no-version')).toEqual({
      kind: 'VERSION-ERROR',
      message: 'no-version',
    });
    expect(
      parsePtLine('ENV-ERROR No TOR_PT_AUTH_COOKIE_FILE when TOR_PT_EXTENDED_SERVER_PORT set'),
    ).toEqual({
      kind: 'ENV-ERROR',
      message: 'No TOR_PT_AUTH_COOKIE_FILE when TOR_PT_EXTENDED_SERVER_PORT set',
    });
    expect(parsePtLine('CMETHOD trebuchet socks5 127.0.0.1:19999')).toEqual({
      kind: 'CMETHOD',
      transport: 'trebuchet',
      protocol: 'socks5',
      address: { host: '127.0.0.1', port: 19999 },
    });
    expect(parsePtLine('CMETHOD-ERROR trebuchet no rocks available')).toEqual({
      kind: 'CMETHOD-ERROR',
      transport: 'trebuchet',
      message: 'no rocks available',
    });
    expect(parsePtLine('CMETHODS DONE')).toEqual({ kind: 'CMETHODS', done: true });
    expect(parsePtLine('SMETHOD trebuchet 198.51.100.1:19999')).toEqual({
      kind: 'SMETHOD',
      transport: 'trebuchet',
      address: { host: '198.51.100.1', port: 19999 },
      args: {},
    });
    expect(
      parsePtLine(
        'SMETHOD obfs4 [::1]:43734 ARGS:cert=HszPy3vWfjsESCEOo9ZBkRv6zQ/1mGHzc8arF0y2SpwFr3WhsMu8rK0zyaoyERfbz3ddFw,iat-mode=0',
      ),
    ).toEqual({
      kind: 'SMETHOD',
      transport: 'obfs4',
      address: { host: '::1', port: 43734 },
      args: {
        cert: 'HszPy3vWfjsESCEOo9ZBkRv6zQ/1mGHzc8arF0y2SpwFr3WhsMu8rK0zyaoyERfbz3ddFw',
        'iat-mode': '0',
      },
    });
    expect(parsePtLine('SMETHOD-ERROR trebuchet no cows available')).toEqual({
      kind: 'SMETHOD-ERROR',
      transport: 'trebuchet',
      message: 'no cows available',
    });
    expect(parsePtLine('SMETHODS DONE\r')).toEqual({ kind: 'SMETHODS', done: true });
    expect(parsePtLine('PROXY DONE')).toEqual({ kind: 'PROXY', done: true });
  });

  it('reads LOG and STATUS with quoted, escaped values', () => {
    expect(parsePtLine('LOG SEVERITY=warning MESSAGE="bad \\"thing\\" at\\n\\101 end"')).toEqual({
      kind: 'LOG',
      severity: 'warning',
      message: 'bad "thing" at\nA end',
    });
    expect(parsePtLine('STATUS TRANSPORT=obfs4 ADDRESS=198.51.100.1:1984 CONNECT=Success')).toEqual(
      {
        kind: 'STATUS',
        transport: 'obfs4',
        fields: { TRANSPORT: 'obfs4', ADDRESS: '198.51.100.1:1984', CONNECT: 'Success' },
      },
    );
  });

  it('keeps unknown keywords as other, and reports malformed known ones', () => {
    expect(parsePtLine('HELLO world')).toEqual({ kind: 'other', line: 'HELLO world' });
    expect(parsePtLine('CMETHOD obfs4 socks5 nowhere')).toMatchObject({ kind: 'malformed' });
    expect(parsePtLine('SMETHOD obfs4')).toMatchObject({ kind: 'malformed' });
    expect(parsePtLine('CMETHODS NOTDONE')).toMatchObject({ kind: 'malformed' });
    expect(parsePtLine('VERSION')).toMatchObject({ kind: 'malformed' });
    expect(parsePtLine('LOG SEVERITY=error MESSAGE="never closed')).toMatchObject({
      kind: 'malformed',
    });
    expect(parsePtLine('SMETHOD x 127.0.0.1:1 ARGS:novalue')).toMatchObject({ kind: 'malformed' });
  });
});

describe('argument encodings', () => {
  it('SMETHOD ARGS: commas and equal signs escaped with a backslash', () => {
    expect(parseSmethodArgs('a=1\\,2,b=x\\=y,c=')).toEqual({ a: '1,2', b: 'x=y', c: '' });
    expect(parseSmethodArgs('a=1,,b=2')).toBeUndefined();
    expect(parseKeyValueLine('A=1  B="two words"')).toEqual({ A: '1', B: 'two words' });
    expect(parseKeyValueLine('novalue')).toBeUndefined();
  });

  it('TOR_PT_SERVER_TRANSPORT_OPTIONS: colons, semicolons, equal signs, backslashes escaped', () => {
    expect(formatServerTransportOptions('obfs4', { 'iat-mode': '1', k: 'a:b;c=d\\' })).toBe(
      'obfs4:iat-mode=1;obfs4:k=a\\:b\\;c\\=d\\\\',
    );
    expect(formatServerTransportOptions('obfs4', {})).toBe('');
  });
});
