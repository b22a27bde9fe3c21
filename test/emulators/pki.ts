// Test PKI standing in for AWS Private CA: a root CA and leaf server certificates.
// ECDSA P-256 because key generation is instant (RSA would slow every test start).
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API; it must be loaded before the library.
import 'reflect-metadata';
import { webcrypto, randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface IssueOptions {
  dnsNames: string[];
  ipAddresses?: string[];
  notAfter?: Date;
}

export interface IssuedCert {
  certPem: string;
  keyPem: string;
}

export interface TestCa {
  certPem: string;
  keyPem: string;
  issue(options: IssueOptions): Promise<IssuedCert>;
}

// The Crypto object is passed explicitly to every @peculiar/x509 call instead of registering a global provider.
type X509Crypto = Parameters<typeof x509.X509CertificateGenerator.create>[1];
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto as unknown as X509Crypto & typeof webcrypto;
const keyAlgorithm: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const signingAlgorithm: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 3600 * 1000;

function serialNumber(): string {
  // Positive 16-byte serial: the high bit cleared so DER does not need a sign byte.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

function escapeDnValue(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}

export async function createTestCa(commonName = 'Emulated AWS Private CA root'): Promise<TestCa> {
  const caKeys = await generateKeys();
  const now = Date.now();
  const caName = `CN=${escapeDnValue(commonName)}, O=lattice-sigv4-proxy tests`;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: caName,
      // Back-dated so clock differences between processes never make a fresh CA "not yet valid".
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 3650 * DAY_MS),
      signingAlgorithm,
      keys: caKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const caKeyPem = await privateKeyPem(caKeys.privateKey);

  async function issue(options: IssueOptions): Promise<IssuedCert> {
    if (options.dnsNames.length === 0 && (options.ipAddresses ?? []).length === 0) {
      throw new Error('issue: at least one DNS name or IP address is required');
    }
    const leafKeys = await generateKeys();
    const sans: x509.JsonGeneralName[] = [
      ...options.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const cn = options.dnsNames[0] ?? options.ipAddresses?.[0] ?? 'server';
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serialNumber(),
        subject: `CN=${escapeDnValue(cn)}`,
        issuer: caCert.subject,
        notBefore: new Date(Date.now() - DAY_MS),
        notAfter: options.notAfter ?? new Date(Date.now() + 365 * DAY_MS),
        signingAlgorithm,
        publicKey: leafKeys.publicKey,
        signingKey: caKeys.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
          new x509.SubjectAlternativeNameExtension(sans, false),
          await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, crypto),
          await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
        ],
      },
      crypto,
    );
    return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(leafKeys.privateKey) + '\n' };
  }

  return { certPem: caCert.toString('pem') + '\n', keyPem: caKeyPem + '\n', issue };
}

/** An unrelated CA, for tests that prove a certificate from a foreign root is refused. */
export function createUntrustedCa(): Promise<TestCa> {
  return createTestCa('Untrusted test root');
}
