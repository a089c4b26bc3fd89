import { describe, it, expect } from 'vitest';
import {
  formatEndpoint,
  isUnspecified,
  isValidHost,
  parseEndpoint,
  parsePort,
  unbracket,
} from '../src/address.ts';

describe('parsePort', () => {
  it.each([
    ['1', 1],
    ['80', 80],
    ['08388', 8388],
    ['65535', 65535],
    ['0', undefined],
    ['65536', undefined],
    ['', undefined],
    [' 80', undefined],
    ['80 ', undefined],
    ['+80', undefined],
    ['-1', undefined],
    ['8e3', undefined],
    ['0x50', undefined],
    ['123456', undefined],
    ['http', undefined],
  ])('%j → %s', (text, port) => {
    expect(parsePort(text)).toBe(port);
  });
});

describe('isValidHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['[::1]', true],
    ['::', true],
    ['fe80::1%eth0', true],
    ['example.com', true],
    ['example.com.', true],
    ['a_b.example', true],
    ['localhost', true],
    ['', false],
    ['[127.0.0.1]', false],
    ['[example.com]', false],
    ['exa mple.com', false],
    ['-example.com', false],
    ['example..com', false],
    [`${'a'.repeat(64)}.com`, false],
    ['a'.repeat(254), false],
    ['host:80', false],
  ])('%j → %s', (host, valid) => {
    expect(isValidHost(host)).toBe(valid);
  });
});

describe('parseEndpoint', () => {
  it.each([
    ['127.0.0.1:8388', { host: '127.0.0.1', port: 8388 }],
    ['example.com:443', { host: 'example.com', port: 443 }],
    ['[::1]:80', { host: '::1', port: 80 }],
    ['[2001:db8::1]:65535', { host: '2001:db8::1', port: 65535 }],
    ['::1:80', undefined],
    ['[::1]80', undefined],
    ['[::1]', undefined],
    ['[example.com]:80', undefined],
    ['127.0.0.1', undefined],
    ['127.0.0.1:', undefined],
    [':80', undefined],
    ['127.0.0.1:0', undefined],
    ['127.0.0.1:70000', undefined],
    ['bad host:80', undefined],
  ])('%j → %j', (text, endpoint) => {
    expect(parseEndpoint(text)).toEqual(endpoint);
  });
});

describe('formatEndpoint, unbracket, isUnspecified', () => {
  it('brackets IPv6 literals only', () => {
    expect(formatEndpoint({ host: '::1', port: 80 })).toBe('[::1]:80');
    expect(formatEndpoint({ host: '10.0.0.1', port: 80 })).toBe('10.0.0.1:80');
    expect(formatEndpoint({ host: 'example.com', port: 80 })).toBe('example.com:80');
  });
  it('strips one pair of brackets', () => {
    expect(unbracket('[::1]')).toBe('::1');
    expect(unbracket('::1')).toBe('::1');
    expect(unbracket('[[::1]]')).toBe('[::1]');
  });
  it.each([
    ['0.0.0.0', true],
    ['::', true],
    ['0:0:0:0:0:0:0:0', true],
    ['127.0.0.1', false],
    ['::1', false],
  ])('isUnspecified(%j) → %s', (host, any) => {
    expect(isUnspecified(host)).toBe(any);
  });
});
