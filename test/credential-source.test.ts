// proxy/src/credential-source.ts: the credential source is chosen once, at start, from the environment (the SDK
// default chain's precedence), a half-configured source names its variable, and every failure is explained with
// the provider, URL, status or network error and a hint, without a secret.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../proxy/src/config.js';
import {
  CredentialSourceError,
  explainContainerError,
  explainStsError,
  formatDiagnosis,
  parseCredentialSource,
  tokenClaims,
} from '../proxy/src/credential-source.js';

const IRSA = { AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/eksa-cluster3-lattice-client', AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token' };
const POD_IDENTITY = { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.23/v1/credentials', AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: '/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token' };

function configError(env: Record<string, string>): ConfigError {
  try {
    parseCredentialSource(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('no ConfigError');
}

describe('parseCredentialSource', () => {
  it('IRSA: the pod identity webhook\'s two variables, with the STS endpoint override', () => {
    expect(parseCredentialSource({ ...IRSA, AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:4566' })).toEqual({
      kind: 'web-identity', roleArn: IRSA.AWS_ROLE_ARN, tokenFile: IRSA.AWS_WEB_IDENTITY_TOKEN_FILE, sessionName: undefined, stsEndpoint: 'http://127.0.0.1:4566',
    });
    // The SDK's precedence: the STS-specific override, then the global one.
    expect(parseCredentialSource({ ...IRSA, AWS_ENDPOINT_URL: 'https://global.example' })).toMatchObject({ stsEndpoint: 'https://global.example' });
    expect(parseCredentialSource({ ...IRSA, AWS_ENDPOINT_URL: 'https://global.example', AWS_ENDPOINT_URL_STS: 'https://sts.example' })).toMatchObject({ stsEndpoint: 'https://sts.example' });
    expect(parseCredentialSource({ ...IRSA, AWS_ROLE_SESSION_NAME: 'sidecar-1' })).toMatchObject({ sessionName: 'sidecar-1' });
  });

  it('Pod Identity: FULL_URI with its token file; RELATIVE_URI on the ECS host', () => {
    expect(parseCredentialSource(POD_IDENTITY)).toEqual({ kind: 'container', url: POD_IDENTITY.AWS_CONTAINER_CREDENTIALS_FULL_URI, tokenFile: POD_IDENTITY.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE });
    expect(parseCredentialSource({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/abc' })).toEqual({ kind: 'container', url: 'http://169.254.170.2/v2/credentials/abc', tokenFile: undefined });
    for (const url of ['http://127.0.0.1:8080/x', 'http://[::1]/x', 'http://localhost/x', 'https://creds.example/x', 'http://[fd00:ec2::23]/v1/credentials']) {
      expect(parseCredentialSource({ AWS_CONTAINER_CREDENTIALS_FULL_URI: url }).kind, url).toBe('container');
    }
  });

  it('follows the SDK default chain\'s order: static keys, then IRSA, then Pod Identity', () => {
    expect(parseCredentialSource({ ...IRSA, ...POD_IDENTITY }).kind).toBe('web-identity');
    expect(parseCredentialSource({ ...IRSA, ...POD_IDENTITY, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' })).toEqual({ kind: 'env', temporary: false });
    expect(parseCredentialSource({ AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x', AWS_SESSION_TOKEN: 't' })).toEqual({ kind: 'env', temporary: true });
    expect(parseCredentialSource({ ...IRSA, AWS_PROFILE: 'p' })).toEqual({ kind: 'default-chain', reason: 'AWS_PROFILE is set' });
    expect(parseCredentialSource({}).kind).toBe('default-chain');
    // Blank values count as unset, as everywhere in config.ts.
    expect(parseCredentialSource({ AWS_ROLE_ARN: ' ', AWS_WEB_IDENTITY_TOKEN_FILE: '' }).kind).toBe('default-chain');
  });

  it('names the missing or bad variable', () => {
    expect(configError({ AWS_ROLE_ARN: IRSA.AWS_ROLE_ARN }).variable).toBe('AWS_WEB_IDENTITY_TOKEN_FILE');
    expect(configError({ AWS_WEB_IDENTITY_TOKEN_FILE: '/t' }).variable).toBe('AWS_ROLE_ARN');
    expect(configError({ ...IRSA, AWS_ROLE_ARN: 'arn:aws:iam::123456789012:user/bob' }).message).toMatch(/^AWS_ROLE_ARN: must be an IAM role ARN/);
    expect(configError({ ...IRSA, AWS_ROLE_SESSION_NAME: 'a b' }).variable).toBe('AWS_ROLE_SESSION_NAME');
    expect(configError({ ...IRSA, AWS_ENDPOINT_URL_STS: 'sts.local:4566' }).variable).toBe('AWS_ENDPOINT_URL_STS');
    expect(configError({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }).variable).toBe('AWS_SECRET_ACCESS_KEY');
    expect(configError({ AWS_SECRET_ACCESS_KEY: 'x' }).variable).toBe('AWS_ACCESS_KEY_ID');
    const plain = configError({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://10.0.0.5/v1/credentials' });
    expect(plain.variable).toBe('AWS_CONTAINER_CREDENTIALS_FULL_URI');
    expect(plain.message).toMatch(/169\.254\.170\.23/);
    expect(configError({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'not a url' }).variable).toBe('AWS_CONTAINER_CREDENTIALS_FULL_URI');
  });

  it('is parsed by parseConfig, once, with the rest of the configuration', () => {
    const config = parseConfig({ AWS_REGION: 'us-west-2', ...IRSA });
    expect(config.credentialSource.kind).toBe('web-identity');
    expect(() => parseConfig({ AWS_REGION: 'us-west-2', AWS_ROLE_ARN: IRSA.AWS_ROLE_ARN })).toThrow(/^AWS_WEB_IDENTITY_TOKEN_FILE: /);
  });
});

describe('diagnoses', () => {
  const url = 'http://169.254.170.23/v1/credentials';
  const tokenFile = '/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token';

  it('Pod Identity: status, agent code, network error and token file, each with its hint', () => {
    const status = (n: number, props: Record<string, string> = {}) => explainContainerError(Object.assign(new Error(`Server responded with status: ${n}`), props), url, tokenFile);
    expect(status(403)).toMatchObject({ httpStatus: 403, url, hint: 'no Pod Identity association for this service account?' });
    expect(status(401).hint).toMatch(/rejected the service account token/);
    expect(status(500).hint).toMatch(/retried/);
    expect(status(400, { Code: 'InvalidParameter', Message: 'Service account token cannot be empty' })).toMatchObject({ code: 'InvalidParameter', detail: 'InvalidParameter: Service account token cannot be empty' });
    const refused = explainContainerError(new Error('Error: connect ECONNREFUSED 169.254.170.23:80'), url, tokenFile);
    expect(refused).toMatchObject({ code: 'ECONNREFUSED', hint: expect.stringMatching(/eks-pod-identity-agent/) });
    const missing = explainContainerError(Object.assign(new Error(`ENOENT: no such file or directory, open '${tokenFile}'`), { code: 'ENOENT', path: tokenFile }), url, tokenFile);
    expect(missing).toMatchObject({ code: 'ENOENT', detail: `token file ${tokenFile} unreadable` });
    expect(formatDiagnosis(missing)).toBe(
      `EKS Pod Identity (container credentials) ${url}: ENOENT: token file ${tokenFile} unreadable (is the eks-pod-identity-token projected volume mounted into this container and readable by its user (uid 1337)?)`,
    );
    expect(formatDiagnosis(status(403))).toBe(`EKS Pod Identity (container credentials) ${url}: HTTP 403: the agent answered 403 (no Pod Identity association for this service account?)`);
  });

  it('STS: the Query protocol\'s code, the status and the token\'s claims (never the token)', () => {
    const claims = { iss: 'https://oidc.eksa.example/id/X', sub: 'system:serviceaccount:apps:demo', aud: 'sts.amazonaws.com', exp: '2026-01-01T00:00:00.000Z' };
    const e = Object.assign(new Error('Not authorized to perform sts:AssumeRoleWithWebIdentity'), { name: 'AccessDenied', Code: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const d = explainStsError(e, { url: 'https://sts.eu-west-1.amazonaws.com/', tokenFile: '/t', roleArn: IRSA.AWS_ROLE_ARN, claims });
    expect(d).toMatchObject({ httpStatus: 403, code: 'AccessDenied', url: 'https://sts.eu-west-1.amazonaws.com/' });
    expect(d.hint).toContain('sub=system:serviceaccount:apps:demo');
    expect(new CredentialSourceError(d).message).toMatch(/^IRSA \(STS AssumeRoleWithWebIdentity\) https:\/\/sts\.eu-west-1\.amazonaws\.com\/: HTTP 403: AccessDenied: Not authorized/);
    // The SDK's exception name (InvalidIdentityTokenException) is not what STS documents; its <Code> is.
    const aud = Object.assign(new Error('Incorrect token audience'), { name: 'InvalidIdentityTokenException', Code: 'InvalidIdentityToken', $metadata: { httpStatusCode: 400 } });
    expect(explainStsError(aud, { url: 'u', tokenFile: '/t', roleArn: 'r', claims }).code).toBe('InvalidIdentityToken');
    const net = explainStsError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), { url: 'u', tokenFile: '/t', roleArn: 'r', claims });
    expect(net).toMatchObject({ code: 'ECONNREFUSED', hint: expect.stringMatching(/cannot reach STS/) });
  });

  it('decodes a token\'s claims without its signature', () => {
    const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b({ alg: 'RS256' })}.${b({ iss: 'https://i', sub: 's', aud: ['sts.amazonaws.com'], exp: 1_800_000_000 })}.c2lnbmF0dXJl`;
    expect(tokenClaims(token)).toEqual({ iss: 'https://i', sub: 's', aud: 'sts.amazonaws.com', exp: '2027-01-15T08:00:00.000Z' });
    expect(tokenClaims('garbage')).toBeUndefined();
  });
});
