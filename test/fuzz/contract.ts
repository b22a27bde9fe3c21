// The error contract every answer the proxy itself makes must keep (docs/errors.md): status, an
// `x-lattice-proxy-error: <code>` header, `content-type: text/plain; charset=utf-8`, a body starting
// `lattice-sigv4-proxy: `, and exactly one access log line with status, origin "proxy" and the code.

import { connect, type Socket } from 'node:net';
import { expect } from 'vitest';
import type { ProxyProcess } from '../helpers/proxy-process.js';
import type { RawResponse } from './raw-client.js';
import { parseResponses } from './raw-client.js';
import { sleep } from './seed-proxy.js';

export const BODY_PREFIX = 'lattice-sigv4-proxy: ';

/** What the tests get back: a raw-client response (headers as a Map) or a node:http one (a record). */
export interface AnyResponse {
  readonly status: number;
  readonly headers: Map<string, string[]> | Record<string, string | string[] | undefined>;
  readonly body: string | Buffer;
}

export function headerOf(r: AnyResponse, name: string): string | undefined {
  const v = r.headers instanceof Map ? r.headers.get(name) : r.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function bodyOf(r: AnyResponse): string {
  return Buffer.isBuffer(r.body) ? r.body.toString('utf8') : r.body;
}

export function accessLines(proxy: ProxyProcess, since: number): Array<Record<string, unknown>> {
  return proxy.logs.slice(since).filter((l) => l['event'] === 'access');
}

/**
 * The access lines written since log index `since`: waits for at least `min` (logs are asynchronous), then a
 * quiet period so a second line for the same answer would be seen too.
 */
export async function accessLinesSince(proxy: ProxyProcess, since: number, min = 1, timeoutMs = 5_000): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + timeoutMs;
  while (accessLines(proxy, since).length < min && Date.now() < deadline) await sleep(25);
  await sleep(400);
  return accessLines(proxy, since);
}

/** Assert the whole contract for one answer of the proxy; `since` is `proxy.logs.length` before the request. */
export async function expectProxyAnswer(proxy: ProxyProcess, since: number, r: AnyResponse | undefined, status: number, code: string): Promise<void> {
  expect(r, `expected a ${status} ${code} answer, got none`).toBeDefined();
  const got = r!;
  const summary = `${got.status} ${headerOf(got, 'x-lattice-proxy-error') ?? '(no code)'} ${JSON.stringify(bodyOf(got).slice(0, 200))}`;
  expect(got.status, summary).toBe(status);
  expect(headerOf(got, 'x-lattice-proxy-error'), summary).toBe(code);
  expect(headerOf(got, 'content-type'), summary).toBe('text/plain; charset=utf-8');
  expect(bodyOf(got).startsWith(BODY_PREFIX), summary).toBe(true);
  const lines = await accessLinesSince(proxy, since);
  expect(lines.map((l) => ({ status: l['status'], origin: l['origin'], code: l['code'] })), `access lines for ${status} ${code}`).toEqual([{ status, origin: 'proxy', code }]);
}

/** A raw TCP connection whose received bytes are kept, for tests that act at a given stage of an exchange. */
export interface RawConn {
  readonly socket: Socket;
  received(): Buffer;
  responses(): RawResponse[];
  /** Resolves when `pred` holds for the bytes received (checked on every chunk), or rejects after `timeoutMs`. */
  until(pred: (received: Buffer) => boolean, timeoutMs?: number): Promise<void>;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

export async function openRaw(port: number): Promise<RawConn> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  let closedFlag = false;
  const waiters: Array<() => void> = [];
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closedFlag = true;
      for (const w of waiters.splice(0)) w();
      resolve();
    }),
  );
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    socket,
    received,
    responses: () => parseResponses(received(), closedFlag),
    until: (pred, timeoutMs = 5_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not seen within ${timeoutMs} ms; received ${JSON.stringify(received().toString('latin1').slice(0, 300))}${closedFlag ? ' (closed)' : ''}`)), timeoutMs);
        const check = (): void => {
          if (pred(received())) {
            clearTimeout(timer);
            resolve();
          } else if (closedFlag) {
            clearTimeout(timer);
            reject(new Error(`connection closed first; received ${JSON.stringify(received().toString('latin1').slice(0, 300))}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      }),
    closed,
    isClosed: () => closedFlag,
  };
}

/** True once `buf` holds a complete response head. */
export const hasHead = (buf: Buffer): boolean => buf.includes('\r\n\r\n');
