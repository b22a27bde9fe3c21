// Runs the e2e's gRPC app (grpc-client.mjs, staged) inside a pod namespace as the app's uid/gid, and reads its one
// JSON line. Like curlIn: an empty environment, so no proxy variable of the host changes where it goes.
import { run } from './netns.js';

export interface GrpcOutcome {
  code: number;
  /** grpc.status name: OK, PERMISSION_DENIED, ... */
  status: string;
  details: string;
  /** an error's metadata (text entries) */
  metadata?: Record<string, string>;
  /** response headers (text entries), when any arrived: on a refusal they say who answered */
  headers?: Record<string, string>;
  trailers?: Record<string, string>;
}

export interface HelloOutcome extends GrpcOutcome {
  message?: string;
  pod?: string;
  /** what the target echoed back of the metadata it received */
  targetSaw?: { latticeIdentity?: string; authorization: boolean; securityToken: boolean; amzDate: boolean };
}

export interface ChatOutcome extends GrpcOutcome {
  sent: number;
  replies: string[];
}

export interface GrpcRun {
  target?: string;
  authority?: string;
  /** the address dialled, when the family was forced */
  address?: string;
  hello?: HelloOutcome;
  chat?: ChatOutcome;
  /** the client's own failure (or what made its output unreadable) */
  error?: string;
}

export interface GrpcAppOptions {
  /** the staged grpc-client.mjs and demo.proto */
  script: string;
  proto: string;
  host: string;
  port?: number;
  family?: 4 | 6;
  name: string;
  messages: number;
}

export async function grpcAppIn(ns: string, user: { uid: number; gid: number }, o: GrpcAppOptions): Promise<GrpcRun> {
  const args = [o.script, '--proto', o.proto, '--host', o.host, '--port', String(o.port ?? 80), '--name', o.name, '--messages', String(o.messages)];
  if (o.family) args.push('--family', String(o.family));
  const r = await run(
    'ip',
    ['netns', 'exec', ns, 'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', process.execPath, ...args],
    { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp' }, timeoutMs: 30_000, cwd: '/tmp' },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) return { error: `exit ${r.code}, no JSON line: ${(r.stderr || r.stdout).trim().slice(0, 400)}` };
  try {
    const parsed = JSON.parse(line) as GrpcRun;
    return r.code === 0 || parsed.error ? parsed : { ...parsed, error: `exit ${r.code}: ${r.stderr.trim().slice(0, 400)}` };
  } catch (err) {
    return { error: `unreadable output (${(err as Error).message}): ${line.slice(0, 400)}` };
  }
}

const clip = (s: string | undefined, n = 120): string => {
  const t = (s ?? '').replace(/\s+/g, ' ');
  return t.length > n ? `${t.slice(0, n)}…` : t;
};

/** `Hello OK "Requesting to ..."; Chat OK 3/3 replies (x-demo-count=3)`: what the report prints for a run. */
export function describeGrpc(r: GrpcRun): string {
  if (r.error || !r.hello || !r.chat) return `client failed: ${r.error ?? 'no outcome'}`;
  const via = r.address ? ` via ${r.address}` : '';
  const hello = r.hello.code === 0 ? `Hello OK ${JSON.stringify(clip(r.hello.message))}` : `Hello ${r.hello.status} ${JSON.stringify(clip(r.hello.details))}`;
  const chat =
    r.chat.code === 0
      ? `Chat OK ${r.chat.replies.length}/${r.chat.sent} replies (trailer x-demo-count=${r.chat.trailers?.['x-demo-count'] ?? 'none'})`
      : `Chat ${r.chat.status} ${JSON.stringify(clip(r.chat.details))}`;
  const by = r.hello.code !== 0 && r.hello.headers?.['x-amzn-errortype'] ? ` (x-amzn-errortype ${r.hello.headers['x-amzn-errortype']})` : '';
  return `${hello}; ${chat}${by}${via}`;
}
