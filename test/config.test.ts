// Configuration is validated once at start: defaults match the pattern, and every bad value is rejected
// with an error that names the variable; several bad values are all reported at once.

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
    expect(c.allowedHosts).toEqual(['*.vpc-lattice-svcs.us-west-2.on.aws']);
    expect(c.authorizationForwardHeader).toBe('x-original-authorization');
    expect(c.unsignedHeaders).toEqual(['x-forwarded-*', 'x-amzn-trace-id']);
    expect(c.caArn).toBeUndefined();
    expect(c.connectTo).toBeUndefined();
  });

  it('default allowlist: Lattice-generated names of the signing region, not everything AWS hosts under on.aws', () => {
    const c = parseConfig(base);
    expect(c.allowlist.allows('svc-0123.7d67968.vpc-lattice-svcs.us-west-2.on.aws')).toBe(true);
    // A Lambda function URL: signing for it would hand the pod's identity and session token to another service.
    expect(c.allowlist.allows('abc.lambda-url.us-west-2.on.aws')).toBe(false);
    expect(c.allowlist.allows('svc-0123.7d67968.vpc-lattice-svcs.eu-west-1.on.aws')).toBe(false);
    expect(c.allowlist.allows('anything.on.aws')).toBe(false);
    expect(c.allowlist.allows('vpc-lattice-svcs.us-west-2.on.aws')).toBe(false);
    expect(parseConfig({ AWS_REGION: 'eu-west-1' }).allowedHosts).toEqual(['*.vpc-lattice-svcs.eu-west-1.on.aws']);
  });

  it('allows *.APP_DOMAIN besides the Lattice names when APP_DOMAIN is set', () => {
    const c = parseConfig({ ...base, APP_DOMAIN: 'Example.com.' });
    expect(c.allowedHosts).toEqual(['*.vpc-lattice-svcs.us-west-2.on.aws', '*.example.com']);
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
    ['UPSTREAM_PORT', { ...base, UPSTREAM_PORT: '0' }],
    ['REQUEST_TIMEOUT_MS', { ...base, REQUEST_TIMEOUT_MS: '1.5' }],
    ['AWS_USE_FIPS_ENDPOINT', { ...base, AWS_USE_FIPS_ENDPOINT: 'sometimes' }],
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

describe('AUTHORIZATION_FORWARD_HEADER is refused at start when the name cannot carry the app\'s credential', () => {
  // Each of these starts a proxy whose every request with an Authorization header fails (or is framed or
  // signed wrongly): hop-by-hop names are removed before forwarding, framing names change the message,
  // signer-owned names collide with the signature, pseudo-headers are not headers.
  const refused: Array<[string, RegExp]> = [
    ['connection', /hop-by-hop/],
    ['keep-alive', /hop-by-hop/],
    ['proxy-connection', /hop-by-hop/],
    ['proxy-authorization', /hop-by-hop/],
    ['te', /hop-by-hop/],
    ['trailer', /hop-by-hop/],
    ['upgrade', /hop-by-hop/],
    ['http2-settings', /hop-by-hop/],
    ['expect', /hop-by-hop/],
    ['content-length', /framing/],
    ['transfer-encoding', /framing/],
    ['Content-Length', /framing/],
    ['authorization', /signer/],
    ['host', /signer/],
    ['x-amz-date', /signer/],
    ['x-amz-security-token', /signer/],
    ['X-Amz-Anything', /signer/],
    [':authority', /pseudo-header/],
    [':path', /pseudo-header/],
    ['bad header', /not a header name/],
    ['x-forwarded-*', /not a header name/],
  ];
  for (const [name, why] of refused) {
    it(`${JSON.stringify(name)} → ConfigError naming the variable (${why.source})`, () => {
      const err = errorFor({ ...base, AUTHORIZATION_FORWARD_HEADER: name });
      expect(err.problems).toHaveLength(1);
      expect(err.variable).toBe('AUTHORIZATION_FORWARD_HEADER');
      expect(err.message).toMatch(why);
    });
  }
  it('a plain end-to-end name is accepted (lower-cased)', () => {
    expect(parseConfig({ ...base, AUTHORIZATION_FORWARD_HEADER: 'X-App-Authorization' }).authorizationForwardHeader).toBe('x-app-authorization');
  });
});

describe('parseConfig reports every bad variable at once', () => {
  it('one ConfigError with one `VAR: message` line per bad variable, in a stable order', () => {
    const err = errorFor({
      AWS_REGION: 'mars',
      LISTEN_PORT: 'eighty',
      LOG_LEVEL: 'loud',
      CONNECT_TO: 'nowhere',
      ACCESS_LOG: 'perhaps',
      AUTHORIZATION_FORWARD_HEADER: 'content-length',
      CA_REFRESH_INTERVAL_S: '1',
    });
    const vars = err.problems.map((p) => p.variable);
    expect([...vars].sort()).toEqual(['ACCESS_LOG', 'AUTHORIZATION_FORWARD_HEADER', 'AWS_REGION', 'CA_REFRESH_INTERVAL_S', 'CONNECT_TO', 'LISTEN_PORT', 'LOG_LEVEL']);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(vars.length);
    for (const [i, line] of lines.entries()) expect(line.startsWith(`${vars[i]}: `)).toBe(true);
  });

  it('a single bad variable still gives exactly one problem', () => {
    const err = errorFor({ ...base, DRAIN_TIMEOUT_MS: 'soon' });
    expect(err.problems.map((p) => p.variable)).toEqual(['DRAIN_TIMEOUT_MS']);
    expect(err.message).toBe('DRAIN_TIMEOUT_MS: must be a whole number, got "soon"');
  });
});
