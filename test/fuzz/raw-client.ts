// A raw-bytes HTTP/1.1 client for adversarial tests: what a broken or hostile app could put on the wire,
// sent over plain TCP so nothing (node:http, undici) normalises or refuses it before the proxy sees it.

import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** lower-cased name → values */
  readonly headers: Map<string, string[]>;
  readonly body: Buffer;
}

export interface RawResult {
  /** Complete responses parsed, in order (a truncated trailing one is not included). */
  readonly responses: RawResponse[];
  /** The server closed (FIN or reset) the connection before we gave up waiting. */
  readonly closed: boolean;
  /** The connection was reset rather than closed cleanly. */
  readonly reset: boolean;
  /** Neither an answer nor a close arrived within the limits (the case is reported as hung). */
  readonly hung: boolean;
  /** Could not connect at all: the proxy is gone. */
  readonly connectFailed: boolean;
  readonly raw: Buffer;
}

export interface RawOptions {
  readonly port: number;
  readonly host?: string;
  /**
   * After the first complete response: `true` waits for the server to close the connection (the cases where
   * the issue demands it), `false` ends our side at once.
   */
  readonly awaitClose?: boolean;
  /** Complete responses to wait for before ending our side (a pipelined case expects more than one). */
  readonly responses?: number;
  /** Silence after which we half-close so the server sees EOF (it then answers or closes). */
  readonly idleMs?: number;
  /** Hard limit for the whole exchange. */
  readonly timeoutMs?: number;
  /** Write the bytes in pieces of this size (0: at once), to cross the parser's buffer boundaries. */
  readonly chunkSize?: number;
}

/** Parse as many complete HTTP/1.1 responses as `buf` holds. Bodies: content-length, chunked, or to EOF. */
export function parseResponses(buf: Buffer, eof: boolean): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) break;
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) break;
    const status = Number(m[1]);
    const headers = new Map<string, string[]>();
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const name = line.slice(0, c).trim().toLowerCase();
      const list = headers.get(name) ?? [];
      list.push(line.slice(c + 1).trim());
      headers.set(name, list);
    }
    let bodyStart = headEnd + 4;
    const cl = headers.get('content-length')?.[0];
    const chunked = /chunked/i.test(headers.get('transfer-encoding')?.join(',') ?? '');
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      if (status >= 200) out.push({ status, headers, body: Buffer.alloc(0) });
      pos = bodyStart;
      continue;
    }
    if (chunked) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (!Number.isFinite(size)) break;
        if (size === 0) {
          const end = buf.indexOf('\r\n\r\n', le, 'latin1');
          if (end < 0) break;
          p = end + 4;
          complete = true;
          break;
        }
        if (le + 2 + size + 2 > buf.length) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!complete) break;
      out.push({ status, headers, body: Buffer.concat(parts) });
      pos = p;
    } else if (cl !== undefined) {
      const n = Number(cl);
      if (bodyStart + n > buf.length) break;
      out.push({ status, headers, body: buf.subarray(bodyStart, bodyStart + n) });
      pos = bodyStart + n;
    } else {
      if (!eof) break;
      out.push({ status, headers, body: buf.subarray(bodyStart) });
      pos = buf.length;
    }
    bodyStart = pos;
  }
  return out;
}

/** Send `bytes` on a fresh connection and collect what comes back (see RawOptions for when it stops). */
export function rawExchange(bytes: Buffer | string, opts: RawOptions): Promise<RawResult> {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const idleMs = opts.idleMs ?? 150;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let closed = false;
    let reset = false;
    let connected = false;
    let halfClosed = false;
    let gotResponse = false;
    let idleTimer: NodeJS.Timeout | undefined;
    const socket: Socket = connect({ port: opts.port, host: opts.host ?? '127.0.0.1' });
    socket.setNoDelay(true);

    const finish = (hung: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idleTimer);
      clearTimeout(hardTimer);
      const raw = Buffer.concat(chunks);
      socket.destroy();
      resolve({ responses: parseResponses(raw, closed), closed, reset, hung, connectFailed: !connected, raw });
    };
    const hardTimer = setTimeout(() => finish(true), timeoutMs);
    const halfClose = (): void => {
      if (halfClosed || settled) return;
      halfClosed = true;
      socket.end();
    };
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      // Nothing for a while: the server waits for more bytes. EOF makes it decide.
      idleTimer = setTimeout(halfClose, idleMs);
    };

    socket.on('connect', () => {
      connected = true;
      if (!opts.chunkSize || opts.chunkSize >= data.length) {
        socket.write(data);
      } else {
        for (let i = 0; i < data.length; i += opts.chunkSize) socket.write(data.subarray(i, i + opts.chunkSize));
      }
      armIdle();
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (gotResponse) return;
      if (parseResponses(Buffer.concat(chunks), false).length >= (opts.responses ?? 1)) {
        gotResponse = true;
        clearTimeout(idleTimer);
        if (!opts.awaitClose) halfClose();
      } else {
        armIdle();
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') reset = true;
      closed = connected;
      finish(false);
    });
    socket.on('end', () => {
      closed = true;
    });
    socket.on('close', () => {
      closed = connected;
      finish(false);
    });
  });
}

/** Run `fn` over `items` with at most `concurrency` at a time; stops starting new ones after `deadline`. */
export async function pool<T>(items: Iterable<T>, concurrency: number, deadline: number, fn: (item: T) => Promise<void>): Promise<number> {
  const it = items[Symbol.iterator]();
  let started = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (Date.now() > deadline) return;
      const n = it.next();
      if (n.done) return;
      started++;
      await fn(n.value);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return started;
}
