// A small, seeded, dependency-free mutation fuzzer over raw request bytes. Deterministic for a seed, so a
// failing case can be replayed from the seed and its index alone.

/** mulberry32: tiny, fast, good enough to spread mutations; not for anything secret. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tokens that change how a request is framed or routed: the places parsers and proxies disagree. */
const TOKENS = [
  '\r\n', '\n', '\r', '\r\n\r\n', ' ', '\t', ':', '\x00', '\xff', '\x7f', '\x0b', '%', '%00', '%2e%2e/', '../', '/./', '@', '#', '?', '&',
  '[::1]', '127.0.0.1', '169.254.169.254', 'evil.com', ':443', ':80', ':0', '\\',
  'Transfer-Encoding: chunked\r\n', 'Content-Length: 0\r\n', 'Content-Length: 5\r\n', 'Content-Length: -1\r\n',
  'Transfer-Encoding: identity\r\n', 'Host: evil.com\r\n', 'Host: 169.254.170.2\r\n', 'Connection: close\r\n',
  'Connection: host\r\n', 'Expect: 100-continue\r\n', 'Upgrade: websocket\r\nConnection: upgrade\r\n',
  'Authorization: AWS4-HMAC-SHA256 forged\r\n', 'X-Amz-Security-Token: forged\r\n', '0\r\n\r\n', 'ffffffff\r\n',
  'GET /smuggled-fuzz HTTP/1.1\r\nHost: evil.com\r\n\r\n', 'HTTP/1.0', 'HTTP/1.1', 'CONNECT', 'http://', 'https://',
];

export interface FuzzCase {
  readonly index: number;
  readonly bytes: Buffer;
}

/** Well-formed requests the mutations start from (allowed and refused targets, bodies framed both ways). */
export function seedCorpus(allowed: string): Buffer[] {
  const H = allowed;
  return [
    `GET / HTTP/1.1\r\nHost: ${H}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n`,
    `GET /a/b?x=1&y=%20z HTTP/1.1\r\nHost: ${H}\r\nAccept: */*\r\nX-Trace: abc\r\n\r\n`,
    `POST /submit HTTP/1.1\r\nHost: ${H}\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"a":"hello"}`,
    `PUT /up HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
    `GET http://${H}/abs?q=1 HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: evil.com\r\n\r\n`,
    `GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
    `DELETE /x HTTP/1.1\r\nHost: ${H}:80\r\nAuthorization: Bearer app-token\r\nConnection: keep-alive\r\n\r\n`,
    `GET / HTTP/1.0\r\nHost: ${H}\r\n\r\n`,
    `CONNECT ${H}:443 HTTP/1.1\r\nHost: ${H}:443\r\n\r\n`,
    `GET /p HTTP/1.1\r\nHost: ${H}\r\n\r\nGET /q HTTP/1.1\r\nHost: ${H}\r\n\r\n`,
    `OPTIONS /o HTTP/1.1\r\nHost: ${H.toUpperCase()}.\r\nOrigin: http://x\r\nContent-Length: 0\r\n\r\n`,
  ].map((s) => Buffer.from(s, 'latin1'));
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function mutateOnce(rand: () => number, buf: Buffer): Buffer {
  const at = (): number => Math.floor(rand() * (buf.length + 1));
  switch (Math.floor(rand() * 9)) {
    case 0: {
      // flip one bit
      if (buf.length === 0) return buf;
      const b = Buffer.from(buf);
      const i = Math.floor(rand() * b.length);
      b[i] = b[i]! ^ (1 << Math.floor(rand() * 8));
      return b;
    }
    case 1: {
      // overwrite one byte with any value
      if (buf.length === 0) return buf;
      const b = Buffer.from(buf);
      b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      return b;
    }
    case 2:
    case 3: {
      // insert a framing/routing token
      const i = at();
      return Buffer.concat([buf.subarray(0, i), Buffer.from(pick(rand, TOKENS), 'latin1'), buf.subarray(i)]);
    }
    case 4: {
      // delete a range
      const i = at();
      const n = 1 + Math.floor(rand() * 16);
      return Buffer.concat([buf.subarray(0, i), buf.subarray(i + n)]);
    }
    case 5: {
      // duplicate a range (repeated headers, repeated chunks)
      const i = at();
      const n = 1 + Math.floor(rand() * 48);
      return Buffer.concat([buf.subarray(0, i + n), buf.subarray(i, i + n), buf.subarray(i + n)]);
    }
    case 6: {
      // truncate
      return buf.subarray(0, at());
    }
    case 7: {
      // repeat a byte many times (long tokens, long lines)
      const i = at();
      const n = 1 + Math.floor(rand() * 4096);
      const c = buf.length > 0 ? buf[Math.min(i, buf.length - 1)]! : 0x61;
      return Buffer.concat([buf.subarray(0, i), Buffer.alloc(n, c), buf.subarray(i)]);
    }
    default: {
      // random bytes
      const i = at();
      const n = 1 + Math.floor(rand() * 8);
      const r = Buffer.alloc(n);
      for (let k = 0; k < n; k++) r[k] = Math.floor(rand() * 256);
      return Buffer.concat([buf.subarray(0, i), r, buf.subarray(i)]);
    }
  }
}

/** An endless, deterministic stream of mutated requests (1 to 4 mutations each). */
export function* fuzzCases(seed: number, corpus: readonly Buffer[]): Generator<FuzzCase> {
  const rand = prng(seed);
  for (let index = 0; ; index++) {
    let b = pick(rand, corpus);
    const n = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < n; k++) b = mutateOnce(rand, b);
    yield { index, bytes: b };
  }
}
