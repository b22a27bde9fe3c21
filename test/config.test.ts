// Configuration is validated once at start: defaults match the pattern, and every bad value is rejected
// with an error that names the variable.

import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../proxy/src/config.js';

const base = { AWS_REGION: 'us-west-2' };

function errorFor(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig defaults', () => {
  it('matches the pattern: 8080 on loopback, admin 9901, vpc-lattice-svcs, 443', () => {
    const c = parseConfig(base);
    expect(c.listenPort).toBe(8080);
    expect(c.listenAddresses).toEqual(['127.0.0.1']);
    expect(c.adminPort).toBe(9901);
    expect(c.adminAddress).toBe('0.0.0.0');
    expect(c.signingService).toBe('vpc-lattice-svcs');
    expect(c.upstreamPort).toBe(443);
    expect(c.logLevel).toBe('info');
    expect(c.accessLog).toBe(true);
    expect(c.allowedHosts).toEqual(['*.on.aws']);
    expect(c.authorizationForwardHeader).toBe('x-original-authorization');
    expect(c.unsignedHeaders).toEqual(['x-forwarded-*', 'x-amzn-trace-id']);
    expect(c.caArn).toBeUndefined();
    expect(c.connectTo).toBeUndefined();
  });

  it('allows *.APP_DOMAIN besides *.on.aws when APP_DOMAIN is set', () => {
    const c = parseConfig({ ...base, APP_DOMAIN: 'Example.com.' });
    expect(c.allowedHosts).toEqual(['*.on.aws', '*.example.com']);
    expect(c.allowlist.allows('demo-cluster2.example.com')).toBe(true);
    expect(c.allowlist.allows('example.org')).toBe(false);
  });

  it('takes ALLOWED_HOSTS as given, replacing the default', () => {
    const c = parseConfig({ ...base, APP_DOMAIN: 'example.com', ALLOWED_HOSTS: 'api.internal, *.svc.example' });
    expect(c.allowedHosts).toEqual(['api.internal', '*.svc.example']);
    expect(c.allowlist.allows('demo.example.com')).toBe(false);
  });

  it('reads a list of listen addresses, the region from the CA ARN, CONNECT_TO with IPv6', () => {
    const c = parseConfig({
      ...base,
      LISTEN_ADDRESS: '127.0.0.1,::1',
      CA_ARN: 'arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/abc',
      CONNECT_TO: '[::1]:8443',
      AWS_ENDPOINT_URL_ACM_PCA: 'http://127.0.0.1:4566',
    });
    expect(c.listenAddresses).toEqual(['127.0.0.1', '::1']);
    expect(c.caRegion).toBe('eu-west-1');
    expect(c.connectTo).toEqual({ host: '::1', port: 8443 });
    expect(c.pcaEndpoint).toBe('http://127.0.0.1:4566');
  });

  it('accepts AWS_DEFAULT_REGION as a fallback', () => {
    expect(parseConfig({ AWS_DEFAULT_REGION: 'ap-southeast-2' }).region).toBe('ap-southeast-2');
  });

  it('can drop the app Authorization header with an empty AUTHORIZATION_FORWARD_HEADER', () => {
    expect(parseConfig({ ...base, AUTHORIZATION_FORWARD_HEADER: '' }).authorizationForwardHeader).toBeUndefined();
  });
});

describe('parseConfig errors name the variable', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['AWS_REGION', {}],
    ['AWS_REGION', { AWS_REGION: 'mars' }],
    ['LISTEN_PORT', { ...base, LISTEN_PORT: '80a' }],
    ['LISTEN_PORT', { ...base, LISTEN_PORT: '70000' }],
    ['ADMIN_PORT', { ...base, ADMIN_PORT: '8080' }],
    ['LISTEN_ADDRESS', { ...base, LISTEN_ADDRESS: 'localhost' }],
    ['LISTEN_ADDRESS', { ...base, LISTEN_ADDRESS: ' , ' }],
    ['ADMIN_ADDRESS', { ...base, ADMIN_ADDRESS: 'any' }],
    ['SIGNING_SERVICE', { ...base, SIGNING_SERVICE: 'Bad Service' }],
    ['CA_ARN', { ...base, CA_ARN: 'arn:aws:acm:us-west-2:1:certificate/x' }],
    ['CA_ARN', { ...base, CA_ARN: 'arn:aws:acm-pca::1:certificate-authority/x' }],
    ['APP_DOMAIN', { ...base, APP_DOMAIN: 'not a domain' }],
    ['ALLOWED_HOSTS', { ...base, ALLOWED_HOSTS: 'good.example,b@d' }],
    ['CONNECT_TO', { ...base, CONNECT_TO: '127.0.0.1' }],
    ['CONNECT_TO', { ...base, CONNECT_TO: '127.0.0.1:99999' }],
    ['LOG_LEVEL', { ...base, LOG_LEVEL: 'verbose' }],
    ['ACCESS_LOG', { ...base, ACCESS_LOG: 'maybe' }],
    ['UPSTREAM_TIMEOUT_MS', { ...base, UPSTREAM_TIMEOUT_MS: '5' }],
    ['DRAIN_TIMEOUT_MS', { ...base, DRAIN_TIMEOUT_MS: '-1' }],
    ['UNSIGNED_HEADERS', { ...base, UNSIGNED_HEADERS: 'x-amz-date' }],
    ['UNSIGNED_HEADERS', { ...base, UNSIGNED_HEADERS: 'bad header' }],
    ['AUTHORIZATION_FORWARD_HEADER', { ...base, AUTHORIZATION_FORWARD_HEADER: 'authorization' }],
    ['PCA_ENDPOINT', { ...base, PCA_ENDPOINT: 'ftp://x' }],
    ['AWS_ENDPOINT_URL_ACM_PCA', { ...base, AWS_ENDPOINT_URL_ACM_PCA: 'not a url' }],
  ];
  for (const [variable, env] of cases) {
    it(`${variable} ← ${JSON.stringify(env)}`, () => {
      const err = errorFor(env);
      expect(err.variable).toBe(variable);
      expect(err.message.startsWith(`${variable}: `)).toBe(true);
    });
  }
});
