// A small world for header and framing tests: the echo target (test/emulators/demo-target.ts) behind the
// Lattice emulator with IAM auth on (so every forwarded request is SigV4-verified: a 200 means the signature
// matched what arrived), fronted by the recording front (the TLS-independent oracle), and a static IAM user
// whose keys the proxy under test signs with.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EchoResponse, TargetServer } from '../emulators/demo-target.js';
import { startEchoTarget } from '../emulators/demo-target.js';
import { startLattice, type Lattice } from '../emulators/lattice.js';
import { createTestCa } from '../emulators/pki.js';
import { authenticatedOnlyPolicy } from '../emulators/scenario.js';
import { startRecordingFront, type RecordingFront } from './recording-front.js';
import type { RawResponse } from './raw-client.js';

/** Marker put in the path of every request that must never be forwarded. */
export const NEVER = '/never-forwarded-';

export interface EchoWorld {
  readonly host: string;
  readonly domain: string;
  readonly lattice: Lattice;
  readonly echo: TargetServer;
  readonly front: RecordingFront;
  /** Environment of a proxy that signs with the static user and dials the front. */
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** Requests whose path carries `marker` that reached the Lattice emulator or the front. */
  forwarded(marker: string): string[];
  close(): Promise<void>;
}

export async function startEchoWorld(): Promise<EchoWorld> {
  const domain = 'example.com';
  const host = `echo.${domain}`;
  const accessKeyId = 'AKIAECHOWORLD0000001';
  const secretAccessKey = randomBytes(30).toString('base64');
  const ca = await createTestCa('echo world Lattice root');
  const cert = await ca.issue({ dnsNames: [host] });
  const echo = await startEchoTarget();
  const allowed = (name: string): boolean => name.endsWith(`.${domain}`) || name.endsWith('.vpc-lattice-svcs.us-west-2.on.aws');
  let lattice: Lattice | undefined;
  let front: RecordingFront | undefined;
  try {
    lattice = await startLattice({
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      iamKey: randomBytes(32).toString('hex'),
      staticUsers: [{ accessKeyId, secretAccessKey, principalArn: 'arn:aws:iam::123456789012:user/echo-tests' }],
      region: 'us-west-2',
      serviceNetworkPolicy: authenticatedOnlyPolicy(),
      services: [{ hostname: host, target: { host: '127.0.0.1', port: echo.port }, authPolicy: authenticatedOnlyPolicy() }],
    });
    front = await startRecordingFront({ upstreamPort: lattice.port, allowed, forbiddenPath: (p) => p.includes(NEVER) });
  } catch (err) {
    await front?.close();
    await lattice?.close();
    await echo.close();
    throw err;
  }
  const caFile = join(mkdtempSync(join(tmpdir(), 'lsp-echo-world-')), 'ca.pem');
  writeFileSync(caFile, front.caPem);
  const l = lattice;
  const f = front;
  return {
    host,
    domain,
    lattice: l,
    echo,
    front: f,
    env: (extra = {}) => ({
      AWS_REGION: 'us-west-2',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      APP_DOMAIN: domain,
      CA_FILE: caFile,
      CONNECT_TO: `127.0.0.1:${f.port}`,
      ...extra,
    }),
    forwarded: (marker) => [
      ...l.log.filter((e) => e.rawPath.includes(marker)).map((e) => `lattice: ${e.method} ${e.host} ${e.rawPath}`),
      ...f.requests.filter((r) => r.path.includes(marker)).map((r) => `front: ${r.method} ${r.host} ${r.path}`),
    ],
    close: async () => {
      await f.close();
      await l.close();
      await echo.close();
    },
  };
}

/** The echo target's description of the request it received (the body of a 200 relayed through Lattice). */
export function echoOf(r: RawResponse | { body: string | Buffer }): EchoResponse {
  // sendJson writes UTF-8 (the header values the target received are latin1 strings inside it).
  const text = Buffer.isBuffer(r.body) ? r.body.toString('utf8') : r.body;
  return JSON.parse(text) as EchoResponse;
}

/** Values of one header as the echo target received it (name compared case-insensitively). */
export function echoed(e: EchoResponse, name: string): string[] {
  return e.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}
