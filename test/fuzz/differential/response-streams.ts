// Response byte streams for the differential fuzzer: what an upstream answers on one pooled connection, as a
// list of exchanges (was the request HEAD, the bytes answering it) and whether the upstream closes at the end.
// Well-formed answers of every framing (Content-Length, chunked, until close, HEAD/204/304 without a body,
// interim 1xx first), the framing-confusion shapes, every control byte at every position, and mutants.

import { mutate } from './mutator.js';
import { between, chance, int, pick, type Rand, weighted } from './random.js';
import { chunked, CHUNK_FRAMINGS, CHUNK_SIZE_LINES, CONTENT_LENGTHS, ODD_BYTES, TRANSFER_ENCODINGS } from './request-streams.js';
import type { Origin } from './report.js';
import type { Exchange } from './undici-llhttp.js';

export interface ResponseCase {
  readonly origin: Origin;
  readonly family: string;
  readonly exchanges: Exchange[];
  readonly eof: boolean;
}

const CRLF = '\r\n';

const STATUSES: readonly (readonly [number, number, string])[] = [
  [40, 200, 'OK'], [3, 201, 'Created'], [2, 202, 'Accepted'], [4, 204, 'No Content'], [2, 206, 'Partial Content'], [2, 301, 'Moved Permanently'],
  [2, 302, 'Found'], [4, 304, 'Not Modified'], [3, 400, 'Bad Request'], [4, 403, 'Forbidden'], [4, 404, 'Not Found'], [2, 429, 'Too Many Requests'],
  [3, 500, 'Internal Server Error'], [2, 502, 'Bad Gateway'], [3, 503, 'Service Unavailable'], [1, 205, 'Reset Content'], [1, 299, 'Odd'], [1, 599, 'Odd'],
];

const RESPONSE_HEADERS = [
  'Date: Tue, 01 Dec 2026 23:00:00 GMT', 'Content-Type: application/json', 'Content-Type: text/plain; charset=utf-8', 'Server: envoy', 'x-amzn-RequestId: 3f1c-8a2b',
  'ETag: "abc"', 'Cache-Control: no-store', 'Set-Cookie: a=b; Path=/; HttpOnly', 'Set-Cookie: c=d', 'Vary: Accept-Encoding', 'Keep-Alive: timeout=5, max=100',
  'X-Empty:', 'X-Latin1: caf\xe9', 'X-Obs: \x80\x9f\xff', 'X-Spaces: a  b   ', 'Content-Encoding: gzip', 'Trailer: X-Checksum', 'Link: </s.css>; rel=preload',
  'x-amz-apigw-id: Y2x', 'Access-Control-Allow-Origin: *',
];

function bodyText(r: Rand, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += chance(r, 0.9) ? String.fromCharCode(between(r, 0x20, 0x7e)) : pick(r, ['\r\n', '\x00', '\xff', 'HTTP/1.1 200 OK\r\n\r\n']);
  return s.slice(0, n);
}

function statusLine(minor: number, status: number, reason: string): string {
  return `HTTP/1.${minor} ${status} ${reason}${CRLF}`;
}

type Framing = 'length' | 'chunked' | 'close';

interface Answer {
  readonly text: string;
  /** The connection can carry another exchange after this answer. */
  readonly reusable: boolean;
  readonly untilClose: boolean;
}

/** A well-formed final answer to a request (HEAD or not). */
function wellFormedAnswer(r: Rand, head: boolean): Answer {
  const [, status, reason] = weighted(r, STATUSES.map((s) => [s[0], s] as const));
  const minor = chance(r, 0.08) ? 0 : 1;
  const lines: string[] = [];
  const n = weighted(r, [[4, between(r, 0, 4)], [2, between(r, 5, 12)], [1, between(r, 13, 40)]]);
  for (let i = 0; i < n; i++) lines.push(pick(r, RESPONSE_HEADERS));
  let close = minor === 0 ? !chance(r, 0.5) : chance(r, 0.08);
  if (minor === 0 && !close) lines.push('Connection: keep-alive');
  else if (minor === 1 && close) lines.push('Connection: close');
  const noBody = head || status === 204 || status === 304;
  const framing: Framing = weighted(r, [[5, 'length'], [3, 'chunked'], [noBody ? 0 : 1, 'close']] as const);
  const data = bodyText(r, weighted(r, [[8, between(r, 0, 80)], [1, between(r, 81, 4000)]]));
  let body = '';
  if (framing === 'length') {
    if (!(status === 204 && chance(r, 0.8))) lines.splice(int(r, lines.length + 1), 0, `Content-Length: ${data.length}`);
    if (!noBody) body = data;
  } else if (framing === 'chunked') {
    if (status !== 204 && status !== 304) lines.splice(int(r, lines.length + 1), 0, 'Transfer-Encoding: chunked');
    if (!noBody) body = chunked(r, data, { ext: chance(r, 0.1), trailers: chance(r, 0.1) });
  } else {
    body = data;
    close = true;
  }
  let interim = '';
  if (chance(r, 0.1)) interim = pick(r, ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n']);
  return { text: interim + statusLine(minor, status, reason) + lines.map((l) => l + CRLF).join('') + CRLF + body, reusable: !close, untilClose: framing === 'close' && !noBody };
}

function wellFormedCase(r: Rand): ResponseCase {
  const n = weighted(r, [[7, 1], [2, 2], [1, 3]]);
  const exchanges: Exchange[] = [];
  let eof = false;
  for (let i = 0; i < n; i++) {
    const head = chance(r, 0.12);
    const a = wellFormedAnswer(r, head);
    exchanges.push({ head, bytes: Buffer.from(a.text, 'latin1') });
    if (!a.reusable) {
      eof = a.untilClose || chance(r, 0.5);
      break;
    }
  }
  if (!eof) eof = chance(r, 0.2);
  return { origin: 'generated', family: exchanges.length > 1 ? 'well-formed sequence' : 'well-formed', exchanges, eof };
}

// ---------------------------------------------------------------- shapes

interface ResponseShape {
  readonly family: string;
  readonly size: number;
  /** The answer's text, whether the request was HEAD, and whether the upstream closes after it. */
  answer(i: number, r: Rand): { text: string; head?: boolean; eof?: boolean };
}

const shapes: ResponseShape[] = [];
function shape(family: string, size: number, answer: ResponseShape['answer']): void {
  shapes.push({ family, size, answer });
}

/** Bytes another response would start with: what a framing disagreement would splice into the next answer. */
const NEXT = 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nspliced';

function ok(lines: string[], body: string, status = '200 OK'): string {
  return `HTTP/1.1 ${status}\r\n${lines.map((l) => l + CRLF).join('')}\r\n${body}`;
}

const CL_LINES = ['Content-Length: {v}', 'content-length: {v}', 'Content-Length : {v}', 'Content-Length:{v}', 'Content-Length:\t{v}  '];
shape('content-length values', CONTENT_LENGTHS.length * CL_LINES.length, (i, r) => ({
  text: ok([CL_LINES[Math.floor(i / CONTENT_LENGTHS.length)]!.replace('{v}', CONTENT_LENGTHS[i % CONTENT_LENGTHS.length]!)], 'hello') + (chance(r, 0.5) ? NEXT : ''),
  eof: chance(r, 0.5),
}));
shape('duplicate content-length', 6, (i, r) => {
  const [a, b] = [['5', '5'], ['5', '6'], ['5', '0'], ['05', '5'], ['5', ''], ['5', '5, 5']][i]!;
  return { text: ok([`Content-Length: ${a}`, `Content-Length: ${b}`], 'hello' + NEXT), eof: chance(r, 0.5) };
});
const TE_RESPONSE_LINES = ['Transfer-Encoding: {v}', 'transfer-encoding: {v}', 'Transfer-Encoding : {v}', 'Transfer-Encoding:{v}', 'Transfer-Encoding:\r\n {v}', 'X-A: 1\r\n Transfer-Encoding: {v}'];
shape('transfer-encoding values', TRANSFER_ENCODINGS.length * TE_RESPONSE_LINES.length, (i, r) => ({
  text: ok([TE_RESPONSE_LINES[Math.floor(i / TRANSFER_ENCODINGS.length)]!.replace('{v}', TRANSFER_ENCODINGS[i % TRANSFER_ENCODINGS.length]!)], '5\r\nhello\r\n0\r\n\r\n') + (chance(r, 0.5) ? NEXT : ''),
  eof: chance(r, 0.6),
}));
shape('content-length with transfer-encoding', 8, (i, r) => {
  const lines = [['Content-Length: 5', 'Transfer-Encoding: chunked'], ['Transfer-Encoding: chunked', 'Content-Length: 5'], ['Content-Length: 0', 'Transfer-Encoding: chunked'], ['Transfer-Encoding: identity', 'Content-Length: 5'], ['Transfer-Encoding: gzip', 'Content-Length: 5'], ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], ['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], ['Transfer-Encoding: chunked', 'Content-Length: 5', 'Content-Length: 5']][i]!;
  return { text: ok(lines, '5\r\nhello\r\n0\r\n\r\n' + NEXT), eof: chance(r, 0.5) };
});
shape('chunk size lines', CHUNK_SIZE_LINES.length, (i, r) => ({ text: ok(['Transfer-Encoding: chunked'], `${CHUNK_SIZE_LINES[i]}\r\nhello\r\n0\r\n\r\n`), eof: chance(r, 0.5) }));
shape('chunked framing', CHUNK_FRAMINGS.length, (i, r) => ({ text: ok(['Transfer-Encoding: chunked'], CHUNK_FRAMINGS[i]!), eof: chance(r, 0.5) }));

export const STATUS_LINES = [
  'HTTP/1.1 200 OK', 'HTTP/1.1 200', 'HTTP/1.1 200 ', 'HTTP/1.1 200  OK', 'HTTP/1.1 200 O\tK', 'HTTP/1.1 200 \xe9t\xe9', 'HTTP/1.1 200 \x80', 'HTTP/1.1 200 OK\x00',
  'HTTP/1.1 200 OK\x7f', 'HTTP/1.1 200 OK\x01', 'HTTP/1.0 200 OK', 'HTTP/1.2 200 OK', 'HTTP/2 200 OK', 'HTTP/2.0 200 OK', 'HTTP/0.9 200 OK', 'http/1.1 200 OK',
  'HTTP/1.1  200 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 099 OK', 'HTTP/1.1 000 OK', 'HTTP/1.1 600 OK', 'HTTP/1.1 999 OK', 'HTTP/1.1 -200 OK',
  'HTTP/1.1 2x0 OK', 'HTTP/1.1\t200 OK', ' HTTP/1.1 200 OK', 'HTTP/1.1 200\tOK', 'HTTP/1.1 200 OK ', 'HTTPS/1.1 200 OK', 'ICE/1.0 200 OK', 'RTSP/1.0 200 OK',
  'HTTP/1.1 200 OK\r', 'HTTP/1.1 200 OK\rX', '',
];
shape('status lines', STATUS_LINES.length, (i, r) => ({ text: `${STATUS_LINES[i]}\r\nContent-Length: 5\r\n\r\nhello`, eof: chance(r, 0.5) }));

shape('interim 1xx', 12, (i, r) => {
  const interim = [
    'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n', 'HTTP/1.1 199 Odd\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
    'HTTP/1.1 101 Switching Protocols\r\n\r\n', 'HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n', 'HTTP/1.1 103 Early\r\nTransfer-Encoding: chunked\r\n\r\n',
    'HTTP/1.0 100 Continue\r\n\r\n', 'HTTP/1.1 100\r\n\r\n', 'HTTP/1.1 100 Continue\r\n',
  ][i]!;
  return { text: interim + ok(['Content-Length: 5'], 'hello'), eof: chance(r, 0.3) };
});

shape('no body: HEAD, 204, 304', 16, (i, r) => {
  const lines = [['Content-Length: 5'], ['Transfer-Encoding: chunked'], ['Content-Length: 0'], []][i % 4]!;
  const status = ['200 OK', '204 No Content', '304 Not Modified', '200 OK'][Math.floor(i / 4)]!;
  const head = Math.floor(i / 4) === 0 || (Math.floor(i / 4) === 3 && chance(r, 0.5));
  return { text: ok(lines, chance(r, 0.5) ? 'hello' : '', status), head, eof: chance(r, 0.5) };
});

export const RESPONSE_CONNECTIONS = [
  'Connection: close', 'Connection: keep-alive', 'Connection: Keep-Alive', 'Connection: close, keep-alive', 'Connection: x', 'Keep-Alive: timeout=5', 'Connection: upgrade',
  'Connection: closed', 'Connection: \xa0close', 'Connection: keep-alive\xa0', 'Connection: keep-alive\t', 'Connection: ,close',
];
shape('connection and version', RESPONSE_CONNECTIONS.length * 2, (i, r) => {
  const version = i < RESPONSE_CONNECTIONS.length ? 'HTTP/1.1' : 'HTTP/1.0';
  return { text: `${version} 200 OK\r\n${RESPONSE_CONNECTIONS[i % RESPONSE_CONNECTIONS.length]}\r\nContent-Length: 5\r\n\r\nhello`, head: chance(r, 0.2), eof: chance(r, 0.5) };
});

shape('until close', 6, (i, r) => {
  const v = [ok([], 'body until close'), ok(['Transfer-Encoding: gzip'], 'gzipped'), ok(['Transfer-Encoding: chunked, gzip'], 'x'), `HTTP/1.0 200 OK\r\n\r\nold`, ok(['Connection: keep-alive'], 'ka'), ok([], '')][i]!;
  return { text: v, eof: chance(r, 0.8) };
});

export const RESPONSE_FIELD_LINES = [
  'X-A: a\r\n b', 'X-A : b', 'X-A\t: b', ' X-A: b', 'X-A: a\rb', 'X-A: a\nb', 'X-A: a\x00b', 'X-A: a\x7fb', 'X-A: a\x01b', ':b', 'X A: b', 'X-\xe9: b', 'X-A:\x0bb', 'X-A: \xff', 'X-A',
];
shape('header lines', RESPONSE_FIELD_LINES.length, (i, r) => ({ text: ok([RESPONSE_FIELD_LINES[i]!, 'Content-Length: 5'], 'hello'), eof: chance(r, 0.5) }));

shape('header counts and sizes near the limits', 7, (i) => {
  if (i < 3) {
    const lines = ['Content-Length: 0'];
    for (let k = 1; k < [255, 256, 257][i]!; k++) lines.push(`X-H${k}: v`);
    return { text: ok(lines, '') };
  }
  const size = [65_000, 65_536 - 30, 65_600, 100_000][i - 3]!;
  return { text: ok(['Content-Length: 0', `X-Big: ${'x'.repeat(size - 60)}`], '') };
});

export const RESPONSE_SEGMENTS = [
  'HT', 'TP/1.1', ' ', '2', '00', ' ', 'O', 'K', '\r', '\n', 'Con', 'tent-Type', ':', ' ', 'te', 'xt', '\r\n', 'Connection', ':', ' ', 'keep-alive', '\r\n',
  'Transfer-Encoding', ':', ' ', 'chun', 'ked', '\r\n', '\r\n',
  '5', ';', 'e', '=', '"v"', '\r\n', 'he', 'llo', '\r\n', '0', '\r\n', 'T', 'r', ':', ' ', 'v', '\r\n', '\r\n',
];
const RESPONSE_POSITIONS = RESPONSE_SEGMENTS.length + 1;
shape('control and high bytes in every position', ODD_BYTES.length * RESPONSE_POSITIONS * 2, (i, r) => {
  const c = String.fromCharCode(ODD_BYTES[i % ODD_BYTES.length]!);
  const rest = Math.floor(i / ODD_BYTES.length);
  const position = rest % RESPONSE_POSITIONS;
  let after = RESPONSE_SEGMENTS.slice(position).join('');
  if (rest >= RESPONSE_POSITIONS) after = after.slice(1);
  return { text: RESPONSE_SEGMENTS.slice(0, position).join('') + c + after, eof: chance(r, 0.5) };
});

function fromShape(s: ResponseShape, i: number, r: Rand, origin: Origin, prefix: string): ResponseCase {
  const a = s.answer(i, r);
  return { origin, family: `${prefix}${s.family}`, exchanges: [{ head: a.head ?? false, bytes: Buffer.from(a.text, 'latin1') }], eof: a.eof ?? false };
}

export function responseSweepSize(): number {
  return shapes.reduce((n, s) => n + s.size, 0);
}

export function responseSweep(k: number, r: Rand): ResponseCase {
  for (const s of shapes) {
    if (k < s.size) return fromShape(s, k, r, 'sweep', 'sweep: ');
    k -= s.size;
  }
  throw new RangeError('sweep index out of range');
}

/** A generated or mutated case. */
export function responseCase(r: Rand): ResponseCase {
  const mutated = chance(r, 0.35);
  const s = pick(r, shapes);
  const base = chance(r, 0.55) ? wellFormedCase(r) : fromShape(s, int(r, s.size), r, 'generated', '');
  if (!mutated) return base;
  const k = int(r, base.exchanges.length);
  const exchanges = base.exchanges.map((e, i) => (i === k ? { head: e.head, bytes: Buffer.from(mutate(r, e.bytes.toString('latin1')), 'latin1') } : e));
  return { origin: 'mutated', family: `mutated ${base.family}`, exchanges, eof: chance(r, 0.5) ? base.eof : !base.eof };
}
