// The seeded mutator of the differential fuzzer: byte-level damage (bit flips, inserted, deleted and duplicated
// bytes) and splices of framing tokens, the places where two HTTP parsers disagree. It works on latin1 text
// (one char per byte) drawn from the generators, and prefers line boundaries for whole-line tokens, so a
// mutant stays close enough to HTTP to reach the framing code rather than die at the first byte.

import { between, chance, int, pick, type Rand, weighted } from './random.js';

/** Framing tokens: delimiters, the framing fields and their values, chunk syntax, versions, request starts. */
export const FRAMING_TOKENS = [
  '\r\n', '\n', '\r', '\r\n\r\n', '\n\n', '\r\r\n', ' ', '\t', ':', ';', ',', '=', '"', '\\', '\x00', '\x0b', '\x0c', '\x7f', '\x80', '\x85', '\xa0', '\xff',
  '0', '5', 'f', 'F', '00', '0x', '+', '-', 'chunked', 'Chunked', 'identity', 'gzip', 'close', 'keep-alive', 'upgrade', '100-continue',
  'Transfer-Encoding', 'Content-Length', 'Connection', 'Host', 'Upgrade', 'Expect', 'Trailer', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'http://', '@', '#', '?', '%', '*',
  '[::1]', ':443', 'CONNECT', 'PRI', 'OPTIONS', 'HEAD',
];

export const FRAMING_LINES = [
  'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: identity', 'Transfer-Encoding : chunked', 'Transfer-Encoding:chunked',
  'Content-Length: 0', 'Content-Length: 5', 'Content-Length: 17', 'Content-Length: -1', 'Content-Length: 5, 5', 'Content-Length: 05', 'Content-Length:',
  'Connection: close', 'Connection: keep-alive', 'Connection: upgrade', 'Upgrade: websocket', 'Expect: 100-continue', 'Host: evil.example', 'Trailer: X-T',
  ' folded', '\tfolded', 'X-Long: ' + 'a'.repeat(300), '0', '5;ext="v"', 'hello', '0\r\n',
];

const REQUEST_STARTS = ['GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello', 'GET /smuggled HTTP/1.1\r\nHost: evil.example\r\n\r\n'];

/** A position just after a line end, or anywhere when the text has none. */
function lineStart(r: Rand, s: string): number {
  const starts: number[] = [0];
  for (let i = s.indexOf('\n'); i >= 0 && starts.length < 256; i = s.indexOf('\n', i + 1)) starts.push(i + 1);
  return pick(r, starts);
}

function at(r: Rand, s: string): number {
  return int(r, s.length + 1);
}

function mutateOnce(r: Rand, s: string): string {
  const op = weighted(r, [
    [3, 'flip'],
    [2, 'set'],
    [2, 'insert-byte'],
    [2, 'delete'],
    [2, 'duplicate'],
    [4, 'token'],
    [3, 'line'],
    [1, 'line-end'],
    [1, 'case'],
    [1, 'repeat'],
    [1, 'request'],
    [1, 'truncate'],
  ] as const);
  switch (op) {
    case 'flip': {
      if (s.length === 0) return s;
      const i = int(r, s.length);
      return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << int(r, 8))) + s.slice(i + 1);
    }
    case 'set': {
      if (s.length === 0) return s;
      const i = int(r, s.length);
      const c = chance(r, 0.5) ? int(r, 256) : pick(r, [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x3a, 0x3b, 0x3d, 0x5c, 0x7f, 0x80, 0xff]);
      return s.slice(0, i) + String.fromCharCode(c) + s.slice(i + 1);
    }
    case 'insert-byte': {
      const i = at(r, s);
      return s.slice(0, i) + String.fromCharCode(int(r, 256)) + s.slice(i);
    }
    case 'delete': {
      const i = at(r, s);
      return s.slice(0, i) + s.slice(i + between(r, 1, chance(r, 0.8) ? 2 : 24));
    }
    case 'duplicate': {
      const i = at(r, s);
      const n = between(r, 1, 64);
      return s.slice(0, i + n) + s.slice(i, i + n) + s.slice(i + n);
    }
    case 'token': {
      const i = at(r, s);
      return s.slice(0, i) + pick(r, FRAMING_TOKENS) + s.slice(i);
    }
    case 'line': {
      const i = lineStart(r, s);
      return s.slice(0, i) + pick(r, FRAMING_LINES) + '\r\n' + s.slice(i);
    }
    case 'line-end': {
      // One CRLF spelled otherwise.
      const ends: number[] = [];
      for (let i = s.indexOf('\r\n'); i >= 0 && ends.length < 256; i = s.indexOf('\r\n', i + 1)) ends.push(i);
      if (ends.length === 0) return s;
      const i = pick(r, ends);
      return s.slice(0, i) + pick(r, ['\n', '\r', '\r\r\n', '\n\r', ' \r\n', '\r\n ', '\r\n\t', '']) + s.slice(i + 2);
    }
    case 'case': {
      const i = at(r, s);
      const n = between(r, 1, 16);
      const part = s.slice(i, i + n);
      return s.slice(0, i) + (chance(r, 0.5) ? part.toUpperCase() : part.toLowerCase()) + s.slice(i + n);
    }
    case 'repeat': {
      const i = at(r, s);
      const c = s.length > 0 ? s[Math.min(i, s.length - 1)]! : 'a';
      return s.slice(0, i) + c.repeat(between(r, 2, chance(r, 0.9) ? 40 : 5000)) + s.slice(i);
    }
    case 'request': {
      const i = chance(r, 0.5) ? s.length : at(r, s);
      return s.slice(0, i) + pick(r, REQUEST_STARTS) + s.slice(i);
    }
    case 'truncate':
      return s.slice(0, at(r, s));
  }
}

/** `text` with 1 to 4 mutations. */
export function mutate(r: Rand, text: string): string {
  const n = weighted(r, [
    [5, 1],
    [3, 2],
    [1, 3],
    [1, 4],
  ]);
  let s = text;
  for (let k = 0; k < n; k++) s = mutateOnce(r, s);
  return s;
}
