// Target parsing and the host allowlist: what the proxy will sign for, and what it refuses.

import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../proxy/src/errors.js';
import { compileAllowlist, parseAuthority, parseTarget } from '../proxy/src/hosts.js';

describe('compileAllowlist', () => {
  const allow = compileAllowlist(['*.on.aws', '*.example.com', 'api.internal', '10.0.0.7']);
  it('matches subdomains at any depth under a *.suffix pattern', () => {
    expect(allow.allows('demo-cluster2.example.com')).toBe(true);
    expect(allow.allows('svc-0a1b.7d67968.vpc-lattice-svcs.us-west-2.on.aws')).toBe(true);
  });
  it('does not match the bare suffix, look-alike suffixes or other domains', () => {
    expect(allow.allows('example.com')).toBe(false);
    expect(allow.allows('evilexample.com')).toBe(false);
    expect(allow.allows('example.com.evil.org')).toBe(false);
    expect(allow.allows('on.aws')).toBe(false);
  });
  it('matches exact names and listed IP literals only', () => {
    expect(allow.allows('api.internal')).toBe(true);
    expect(allow.allows('x.api.internal')).toBe(false);
    expect(allow.allows('10.0.0.7')).toBe(true);
    expect(allow.allows('10.0.0.8')).toBe(false);
    expect(allow.allows('169.254.171.5')).toBe(false);
  });
  it('rejects malformed patterns', () => {
    expect(() => compileAllowlist(['*example.com'])).toThrow();
    expect(() => compileAllowlist(['a b'])).toThrow();
  });
  it('* allows everything', () => {
    expect(compileAllowlist(['*']).allows('anything.example')).toBe(true);
  });
});

describe('parseAuthority', () => {
  it('maps a missing port and port 80 to the upstream TLS port', () => {
    expect(parseAuthority('Demo.Example.com', 443)).toEqual({ host: 'demo.example.com', port: 443, authority: 'demo.example.com' });
    expect(parseAuthority('demo.example.com:80', 443)).toEqual({ host: 'demo.example.com', port: 443, authority: 'demo.example.com' });
    expect(parseAuthority('demo.example.com.', 443).host).toBe('demo.example.com');
  });
  it('dials an explicit non-default port and keeps it in Host', () => {
    expect(parseAuthority('demo.example.com:8443', 443)).toEqual({ host: 'demo.example.com', port: 8443, authority: 'demo.example.com:8443' });
    expect(parseAuthority('demo.example.com', 8443).authority).toBe('demo.example.com:8443');
  });
  it('parses IPv6 literals', () => {
    expect(parseAuthority('[FD00:EC2:80::1]:8443', 443)).toEqual({ host: 'fd00:ec2:80::1', port: 8443, authority: '[fd00:ec2:80::1]:8443' });
  });
  for (const bad of ['', 'user@demo.example.com', 'demo.example.com:', 'demo.example.com:http', 'demo.example.com:0', 'demo.example.com:70000', 'a b.com', '[::1', '[zz::1]', 'bad_host!', 'x'.repeat(254)]) {
    it(`rejects ${JSON.stringify(bad.slice(0, 40))} with 400`, () => {
      expect(() => parseAuthority(bad, 443)).toThrow(BadRequestError);
    });
  }
});

describe('parseTarget', () => {
  it('origin-form uses the Host header and keeps the path and query byte for byte', () => {
    expect(parseTarget('/a%20b/../c?x=1+2&flag', 'demo.example.com', 443)).toEqual({
      host: 'demo.example.com',
      port: 443,
      authority: 'demo.example.com',
      path: '/a%20b/../c?x=1+2&flag',
    });
  });
  it('origin-form without Host is a 400', () => {
    expect(() => parseTarget('/', undefined, 443)).toThrow(/no Host header/);
  });
  it('absolute-form uses the URL authority and ignores Host', () => {
    expect(parseTarget('http://demo.example.com/p?q=1', 'evil.example.org', 443)).toEqual({
      host: 'demo.example.com',
      port: 443,
      authority: 'demo.example.com',
      path: '/p?q=1',
    });
    expect(parseTarget('HTTP://demo.example.com', undefined, 443).path).toBe('/');
    expect(parseTarget('http://demo.example.com?q', undefined, 443).path).toBe('/?q');
  });
  it('refuses https absolute-form, asterisk-form and authority-form', () => {
    expect(() => parseTarget('https://demo.example.com/', undefined, 443)).toThrow(/plain http/);
    expect(() => parseTarget('*', 'demo.example.com', 443)).toThrow(BadRequestError);
    expect(() => parseTarget('demo.example.com:443', undefined, 443)).toThrow(BadRequestError);
  });
  it('refuses userinfo in absolute-form', () => {
    expect(() => parseTarget('http://user:pw@demo.example.com/', undefined, 443)).toThrow(/user information/);
  });
});
