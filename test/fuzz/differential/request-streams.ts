// Request byte streams for the differential fuzzer: well-formed requests of every shape the proxy sees, and the
// request-smuggling shapes, each as latin1 text (one char = one byte). A shape is a function of a seeded
// generator, so a case is its (seed, index). The named shapes are also swept exhaustively (`requestSweep`):
// every entry of every table, every control byte at every position of a request.

import { between, chance, int, pick, type Rand, weighted } from './random.js';

export interface Stream {
  readonly family: string;
  readonly text: string;
}

// ---------------------------------------------------------------- well-formed parts

const COMMON_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'] as const;
/** llhttp knows these too; they are rare in pod traffic but legal. */
const RARE_METHODS = ['TRACE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH', 'PURGE', 'LINK', 'UNLINK', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACL', 'BIND', 'REBIND', 'UNBIND', 'MKCALENDAR', 'SOURCE', 'QUERY'];
/** Not HTTP methods llhttp accepts in a request line, or not tokens at all. */
const ODD_METHODS = ['get', 'Get', 'FOO', 'DESCRIBE', 'ANNOUNCE', 'SETUP', 'PLAY', 'GET_PARAMETER', 'RECORD', 'PRI', 'CONNECT', 'G ET', 'GE\tT', '', 'GETT', 'POSTT', 'X-GET', '\x00GET'];

const HOSTS = ['svc-0123.abcd.vpc-lattice-svcs.us-west-2.on.aws', 'api.internal.example', 'a', 'localhost', '127.0.0.1', '[::1]', 'x.example:8080', 'H.EXAMPLE.'];

const PATH_SEGMENTS = ['a', 'b', 'api', 'v1', 'users', '%20', '%2e%2e', '..', '.', '~user', 'a;b=c', 'x,y', "it's", '!$&\'()*+,;=', ':@', '%E2%82%AC', 'data.json', ''];
const QUERIES = ['', '?', '?x=1', '?a=1&b=2', '?q=%20z&flag', '?=', '?a=b=c', '?x=/path?y', '?%zz', '?a[]=1&a[]=2', '?redirect=http://h/'];

export function originTarget(r: Rand): string {
  const n = weighted(r, [
    [3, 0],
    [4, 1],
    [3, 2],
    [1, 5],
  ]);
  let p = '';
  for (let i = 0; i < n; i++) p += '/' + pick(r, PATH_SEGMENTS);
  if (p === '') p = '/';
  if (chance(r, 0.02)) p = '/' + 'x'.repeat(between(r, 100, 4000));
  return p + pick(r, QUERIES);
}

const HEADER_NAMES = [
  'Accept', 'Accept-Encoding', 'Accept-Language', 'User-Agent', 'Content-Type', 'Authorization', 'Cookie', 'X-Request-Id',
  'X-Forwarded-For', 'X-Amz-Date', 'X-Amz-Content-Sha256', 'Traceparent', 'Cache-Control', 'If-None-Match', 'Origin',
  'Referer', 'Range', 'X-Custom_Header', "x-a!#$%&'*+.^_`|~b", 'TE', 'Trailer', 'Via', 'Forwarded', 'Keep-Alive', 'Pragma',
  'Content-Encoding', 'X-Empty',
] as const;

function headerValue(r: Rand, name: string): string {
  switch (name) {
    case 'Accept':
      return pick(r, ['*/*', 'application/json', 'text/html, application/xhtml+xml;q=0.9, */*;q=0.8']);
    case 'User-Agent':
      return pick(r, ['curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64)', 'aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22', 'grpc-java/1.60']);
    case 'Content-Type':
      return pick(r, ['application/json', 'text/plain; charset=utf-8', 'multipart/form-data; boundary="----x"', 'application/x-www-form-urlencoded']);
    case 'Authorization':
      return pick(r, ['Bearer eyJhbGciOi.J9.x', 'Basic dXNlcjpwYXNz', 'AWS4-HMAC-SHA256 Credential=AKIA/x, SignedHeaders=host, Signature=00']);
    case 'Cookie':
      return 'a=b; c="d e"; f=%20';
    case 'X-Empty':
      return '';
    case 'TE':
      return pick(r, ['trailers', 'gzip']);
    default:
      break;
  }
  return weighted(r, [
    [6, () => pick(r, ['1', 'abc', 'x y  z', 'gzip, deflate, br', '"quoted, with comma"', 'a=b;c=d', 'W/"etag"', 'bytes=0-99', '10.0.0.1, 10.0.0.2'])],
    [1, () => pick(r, ['caf\xe9', '\xa0\xff', 'bin\xc3\xa9\xe2\x82\xac', '\xfe\xfe'])],
    [1, () => 'v'.repeat(between(r, 50, 2000))],
    [1, () => pick(r, ['  leading', 'trailing \t', '\tboth\t ', 'in\tner'])],
  ])();
}

function randomCase(r: Rand, s: string): string {
  return weighted(r, [
    [6, s],
    [1, s.toLowerCase()],
    [1, s.toUpperCase()],
    [1, [...s].map((c) => (chance(r, 0.5) ? c.toUpperCase() : c.toLowerCase())).join('')],
  ]);
}

const CRLF = '\r\n';

export interface Parts {
  method: string;
  target: string;
  version: string;
  /** Header lines without their CRLF, as sent. */
  lines: string[];
  /** The bytes after the head (an already framed body, possibly more requests). */
  body: string;
}

export function serialize(p: Parts): string {
  return `${p.method} ${p.target} ${p.version}${CRLF}${p.lines.map((l) => l + CRLF).join('')}${CRLF}${p.body}`;
}

function bodyBytes(r: Rand, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += chance(r, 0.85) ? String.fromCharCode(between(r, 0x20, 0x7e)) : pick(r, ['\r', '\n', '\r\n', '\x00', '\xff', '0\r\n\r\n']);
  return s.slice(0, n);
}

function hexSize(r: Rand, n: number): string {
  let h = n.toString(16);
  if (chance(r, 0.3)) h = h.toUpperCase();
  if (chance(r, 0.1)) h = '0'.repeat(between(r, 1, 5)) + h;
  return h;
}

const EXTENSIONS = [';a', ';a=b', ';name=token123', ';q="quoted"', ';q="with \\"escape\\" and \\\\"', ';a;b=c;d="e"', ';x=""', ";!#$%&'*+-.^_`|~=v"];

/** A chunked body (chunks, sizes in varied spellings, extensions, trailers) for `data`. */
export function chunked(r: Rand, data: string, opts: { ext?: boolean; trailers?: boolean } = {}): string {
  let out = '';
  let at = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, between(r, 1, 40));
    out += hexSize(r, n) + (opts.ext || chance(r, 0.1) ? pick(r, EXTENSIONS) : '') + CRLF + data.slice(at, at + n) + CRLF;
    at += n;
  }
  out += (chance(r, 0.1) ? '000' : '0') + (opts.ext && chance(r, 0.3) ? pick(r, EXTENSIONS) : '') + CRLF;
  if (opts.trailers || chance(r, 0.1)) {
    const k = between(r, 1, 3);
    for (let i = 0; i < k; i++) out += pick(r, ['X-Checksum: abc', 'Expires: never', 'Server-Timing: db;dur=53', 'X-Empty:', 'x-t:\tv\t']) + CRLF;
  }
  return out + CRLF;
}

export interface RequestOptions {
  method?: string;
  target?: string;
  minor?: 0 | 1;
  framing?: 'none' | 'length' | 'chunked';
  data?: string;
}

/** One well-formed request as parts (so a shape can change one of them). */
export function wellFormedParts(r: Rand, o: RequestOptions = {}): Parts {
  const method = o.method ?? (chance(r, 0.9) ? pick(r, COMMON_METHODS) : pick(r, RARE_METHODS));
  const host = pick(r, HOSTS);
  let target = o.target;
  if (target === undefined) {
    target = weighted(r, [
      [8, () => originTarget(r)],
      [2, () => `http://${host}${originTarget(r)}`],
      [method === 'OPTIONS' ? 3 : 0, () => '*'],
    ])();
  }
  const minor = o.minor ?? (chance(r, 0.1) ? 0 : 1);
  const lines: string[] = [];
  if (chance(r, 0.92)) lines.push(`${randomCase(r, 'Host')}: ${host}`);
  const extra = weighted(r, [
    [3, between(r, 0, 3)],
    [2, between(r, 4, 10)],
    [1, between(r, 11, 40)],
  ]);
  for (let i = 0; i < extra; i++) {
    const name = pick(r, HEADER_NAMES);
    lines.push(`${randomCase(r, name)}:${chance(r, 0.9) ? ' ' : pick(r, ['', '  ', '\t'])}${headerValue(r, name)}`);
  }
  if (chance(r, 0.15)) lines.splice(int(r, lines.length + 1), 0, `Connection: ${pick(r, ['keep-alive', 'close', 'Keep-Alive', 'te', 'keep-alive, te', 'x-foo'])}`);
  if (chance(r, 0.05)) lines.push(`Expect: ${pick(r, ['100-continue', '100-Continue', 'foo'])}`);
  const framing = o.framing ?? (['POST', 'PUT', 'PATCH'].includes(method) || chance(r, 0.1) ? (chance(r, 0.6) || minor === 0 ? 'length' : 'chunked') : 'none');
  const data = o.data ?? bodyBytes(r, weighted(r, [[8, between(r, 0, 64)], [1, between(r, 65, 3000)]]));
  let body = '';
  if (framing === 'length') {
    lines.splice(int(r, lines.length + 1), 0, `${randomCase(r, 'Content-Length')}: ${data.length}`);
    body = data;
  } else if (framing === 'chunked') {
    lines.splice(int(r, lines.length + 1), 0, `${randomCase(r, 'Transfer-Encoding')}: ${randomCase(r, 'chunked')}`);
    body = chunked(r, data);
  }
  return { method, target, version: `HTTP/1.${minor}`, lines, body };
}

/** 1 to 4 well-formed requests on one connection (pipelined), sometimes with empty lines between. */
export function wellFormed(r: Rand): Stream {
  const n = weighted(r, [
    [6, 1],
    [3, 2],
    [1, between(r, 3, 4)],
  ]);
  let text = '';
  for (let i = 0; i < n; i++) {
    const p = wellFormedParts(r, i < n - 1 ? { minor: 1 } : {});
    // Only the last request may close the connection: a close before the end is its own shape.
    if (i < n - 1) p.lines = p.lines.filter((l) => !/^connection:.*close/i.test(l));
    if (i > 0 && chance(r, 0.1)) text += CRLF;
    text += serialize(p);
  }
  return { family: n > 1 ? 'well-formed pipelined' : 'well-formed', text };
}

// ---------------------------------------------------------------- smuggling shapes

/** A request a front end and a back end could disagree about; what a desync would smuggle. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: evil.example\r\n\r\n';

function withSmuggled(r: Rand, text: string): string {
  return chance(r, 0.7) ? text + SMUGGLED : text;
}

export const CONTENT_LENGTHS = [
  '5', '05', '0005', '00000000000000000000005', '+5', '-5', '-1', ' 5', '5 ', '5\t', '5, 5', '5,5', '5, 6', '5,', ',5', '0x5', '5.0', '5e0', '1e3',
  '', ' ', '٥', '5\x00', '5\xa0', '\xa05', '99999999999999999999', '18446744073709551615', '18446744073709551616', '9007199254740993', '999999999999999', '1000000000000000',
  '4294967296', '"5"', '5;', '5 5', 'five',
];

export const TRANSFER_ENCODINGS = [
  'chunked', 'Chunked', 'CHUNKED', 'chunked, chunked', 'gzip, chunked', 'chunked, gzip', 'identity, chunked', 'identity', 'gzip', 'x-gzip, chunked',
  ' chunked', 'chunked ', 'chunked\t', '\tchunked', 'xchunked', 'chunkedx', 'chunk', 'chunked;q=1', 'chunked;', ',chunked', 'chunked,', 'chunked, ',
  ', , chunked', '"chunked"', 'chunked\x00', 'chunked\x0b', 'ch unked', 'gzip,chunked', 'gzip , chunked', 'deflate, br, chunked', 'zstd, chunked', 'unknown, chunked',
  '', ' ', 'CHUNKED , chunked', '\xa0chunked', 'chunked\xa0', 'chunked\xa0, chunked', '\x85chunked', 'chunked\x0c',
];

/** Ways to spell the Transfer-Encoding field line itself. */
export const TE_LINES = [
  'Transfer-Encoding: {v}', 'transfer-encoding: {v}', 'TRANSFER-ENCODING: {v}', 'Transfer-Encoding : {v}', 'Transfer-Encoding\t: {v}', 'Transfer-Encoding:{v}',
  'Transfer-Encoding:\t{v}', 'Transfer-Encoding:  {v}', 'Transfer_Encoding: {v}', 'Transfer-Encoding\x00: {v}', 'X-Pad: 1\r\n Transfer-Encoding: {v}',
  'Transfer-Encoding:\r\n {v}', 'Transfer-Encoding: \r\n\t{v}', 'Transfer-Encoding:\x0b{v}', 'Transfer-Encoding:\x0c{v}', 'Transfer-Encoding\r: {v}',
];

export const CONTENT_LENGTH_LINES = ['Content-Length: {v}', 'content-length: {v}', 'Content-Length : {v}', 'Content-Length:{v}', 'Content-Length:\t{v}  ', 'Content_Length: {v}', 'Content-Length:\r\n {v}'];

function post(lines: string[], body: string, version = 'HTTP/1.1'): string {
  return serialize({ method: 'POST', target: '/upload', version, lines: ['Host: a', ...lines], body });
}

const CHUNKED_HELLO = '5\r\nhello\r\n0\r\n\r\n';

/** A table-driven shape: a name, its entries, and the stream for entry i (some draw more bytes from r). */
interface Shape {
  readonly family: string;
  readonly size: number;
  stream(i: number, r: Rand): string;
}

const shapes: Shape[] = [];
function shape(family: string, size: number, stream: (i: number, r: Rand) => string): void {
  shapes.push({ family, size, stream });
}

shape('content-length values', CONTENT_LENGTHS.length * CONTENT_LENGTH_LINES.length, (i, r) => {
  const v = CONTENT_LENGTHS[i % CONTENT_LENGTHS.length]!;
  const line = CONTENT_LENGTH_LINES[Math.floor(i / CONTENT_LENGTHS.length)]!.replace('{v}', v);
  return withSmuggled(r, post([line], 'hello'));
});
shape('duplicate content-length', 12, (i, r) => {
  const pairs = [['5', '5'], ['5', '6'], ['5', '0'], ['0', '5'], ['05', '5'], ['5', ''], ['', '5'], ['5', '5, 5'], ['5', '-1'], ['5', '+5'], ['5', ' 5'], ['3', '5']];
  const [a, b] = pairs[i]!;
  return withSmuggled(r, post([`Content-Length: ${a}`, chance(r, 0.5) ? 'X-Between: 1' : 'Accept: */*', `content-length: ${b}`], 'hello'));
});
shape('transfer-encoding values', TRANSFER_ENCODINGS.length * TE_LINES.length, (i, r) => {
  const v = TRANSFER_ENCODINGS[i % TRANSFER_ENCODINGS.length]!;
  const line = TE_LINES[Math.floor(i / TRANSFER_ENCODINGS.length)]!.replace('{v}', v);
  return withSmuggled(r, post([line], CHUNKED_HELLO));
});
shape('content-length with transfer-encoding', 4 * 6, (i, r) => {
  const te = ['chunked', 'gzip, chunked', 'identity', ' chunked'][i % 4]!;
  const cl = ['5', '0', '15', '-1', '5, 5', '100'][Math.floor(i / 4)]!;
  const lines = chance(r, 0.5) ? [`Content-Length: ${cl}`, `Transfer-Encoding: ${te}`] : [`Transfer-Encoding: ${te}`, `Content-Length: ${cl}`];
  return withSmuggled(r, post(lines, CHUNKED_HELLO));
});
shape('two transfer-encoding fields', 8, (i, r) => {
  const pairs = [['chunked', 'chunked'], ['gzip', 'chunked'], ['chunked', 'gzip'], ['identity', 'chunked'], ['chunked', ''], ['', 'chunked'], ['chunked', 'identity'], ['x', 'chunked']];
  const [a, b] = pairs[i]!;
  return withSmuggled(r, post([`Transfer-Encoding: ${a}`, `Transfer-Encoding: ${b}`], CHUNKED_HELLO));
});
shape('transfer-encoding on HTTP/1.0', 6, (i, r) => {
  const lines = [['Transfer-Encoding: chunked'], ['Transfer-Encoding: chunked', 'Connection: keep-alive'], ['Transfer-Encoding: chunked', 'Content-Length: 5'], ['Transfer-Encoding: gzip, chunked'], ['Content-Length: 5', 'Connection: keep-alive'], ['Transfer-Encoding: identity']][i]!;
  return withSmuggled(r, post(lines, i === 4 ? 'hello' : CHUNKED_HELLO, 'HTTP/1.0'));
});

export const CHUNK_SIZE_LINES = [
  '5', '05', '00000000000000005', '0000000000000000000005', '0x5', '5 ', ' 5', '5\t', '+5', '-5', '5;', '5;;', '5 ;a', '5; a', '5;a ', '5;a =b', '5;a= b', '5;a=b ',
  '5;=b', '5;a=', '5;a="', '5;a="b', '5;a="b"c', '5;a="\\"', '5;a="\\', '5;a="x\\ y"', '5;a="\\\x01"', '5;a="\x01"', '5;a="\x7f"', '5;a="\xff"', '5;a=\xff', '5;\xff',
  '5;a=b;c', '5;a,b', '5;a="b";c="d"', '5;a=b=c', '5\x00', '5\r', '5\n', 'g', '', ';a', '5 5', '10000000000000000', 'fffffffffffffffff', '7fffffffffffffff',
  'ffffffffffffffff', '20000000000000', '1fffffffffffff', '5' + ';a'.repeat(2100),
];

shape('chunk size lines', CHUNK_SIZE_LINES.length, (i, r) => {
  const size = CHUNK_SIZE_LINES[i]!;
  return withSmuggled(r, post(['Transfer-Encoding: chunked'], `${size}\r\nhello\r\n0\r\n\r\n`));
});

export const CHUNK_FRAMINGS = [
  '5\r\nhello\r\n0\r\n\r\n', '5\r\nhelloXX\r\n0\r\n\r\n', '5\r\nhell\r\n0\r\n\r\n', '5\r\nhello0\r\n\r\n', '5\r\nhello\n0\r\n\r\n', '5\r\nhello\r0\r\n\r\n',
  '5\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n', '5\r\nhello\r\n0\r\n\n', '5\r\nhello\r\n0\n\r\n', '5\r\nhello\r\n0\r\n\r', '0\r\n\r\n', '00\r\n\r\n',
  '0;ext=1\r\n\r\n', '0\r\nX-T: 1\r\n\r\n', '0\r\nX-T: 1\r\nY: 2\r\n\r\n', '0\r\nX-T 1\r\n\r\n', '0\r\nX-T : 1\r\n\r\n', '0\r\n X-T: 1\r\n\r\n',
  '0\r\nX-T: 1\r\n continued\r\n\r\n', '0\r\nX-T: a\rb\r\n\r\n', '0\r\nX-T: a\x00b\r\n\r\n', '0\r\nX-T: \xff\r\n\r\n', '0\r\nContent-Length: 5\r\n\r\nhello',
  '0\r\nTransfer-Encoding: chunked\r\n\r\n', '0\r\n:empty\r\n\r\n', '0\r\nX-T:\r\n\r\n', '0\r\nX-T: 1\n\r\n', '0\r\nX-T: 1\r\n\n', '3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n',
  '1\r\n\r\r\n0\r\n\r\n', '2\r\n\r\n\r\n0\r\n\r\n', '5\r\n\x00\x00\x00\x00\x00\r\n0\r\n\r\n', '\r\n5\r\nhello\r\n0\r\n\r\n', ' 5\r\nhello\r\n0\r\n\r\n',
];

shape('chunked framing', CHUNK_FRAMINGS.length, (i, r) => withSmuggled(r, post(['Transfer-Encoding: chunked'], CHUNK_FRAMINGS[i]!)));

export const OBS_FOLDS = [
  'X-A: a\r\n b', 'X-A: a\r\n\tb', 'X-A:\r\n b', 'X-A: a\r\n  \r\n', 'Host: a\r\n b', 'Content-Length: 5\r\n 5', 'X-A: a\r\n\r\n b', 'X-A: a\r\n \x00', 'X-A: a\r\n\x0bb',
];
shape('obs-fold', OBS_FOLDS.length, (i, r) => withSmuggled(r, post([OBS_FOLDS[i]!, 'Content-Length: 5'], 'hello')));

export const WHITESPACE_BEFORE_COLON = ['Host : a', 'Host\t: a', 'X-A : b', 'Content-Length : 5', 'Transfer-Encoding : chunked', 'X-A\x0b: b', 'X-A\x0c: b', ' X-A: b', '\tX-A: b', 'X-A :b'];
shape('white space before the colon', WHITESPACE_BEFORE_COLON.length, (i, r) => withSmuggled(r, post([WHITESPACE_BEFORE_COLON[i]!, 'Content-Length: 5'], 'hello')));

export const LINE_ENDS = [
  'GET / HTTP/1.1\nHost: a\n\n', 'GET / HTTP/1.1\r\nHost: a\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 'GET / HTTP/1.1\rHost: a\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n\r\r\n', 'GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n', 'GET / HTTP/1.1\r\r\nHost: a\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\n\r', 'GET / HTTP/1.1\r\nHost: a\r\n\n\r\n', '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
  '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', '\rGET / HTTP/1.1\r\nHost: a\r\n\r\n', ' GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /  HTTP/1.1\r\nHost: a\r\n\r\n', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 'GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /\tHTTP/1.1\r\nHost: a\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n',
];
shape('bare CR and LF, line ends', LINE_ENDS.length, (i, r) => withSmuggled(r, LINE_ENDS[i]!));

export const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/2', 'HTTP/3', 'http/1.1', 'HTTP/1.2', 'HTTP/1.10', 'HTTP/01.1', 'HTTP/1', 'HTTP/1.', 'HTTP /1.1', 'HTTP/1.1x', 'HTTPS/1.1', 'RTSP/1.0', 'ICE/1.0', 'HTTP/9.9', ''];
shape('versions', VERSIONS.length, (i, r) => withSmuggled(r, serialize({ method: 'GET', target: '/', version: VERSIONS[i]!, lines: ['Host: a'], body: '' })));

export const METHOD_SHAPES = [...COMMON_METHODS, ...RARE_METHODS, ...ODD_METHODS];
shape('methods', METHOD_SHAPES.length, (i, r) => withSmuggled(r, serialize({ method: METHOD_SHAPES[i]!, target: '/', version: 'HTTP/1.1', lines: ['Host: a', 'Content-Length: 0'], body: '' })));

export const TARGETS = [
  '/', '*', 'http://a/', 'http://a@b/', 'http://a:b@c/', 'http://[::1]:80/', 'http://[::1]/', 'http://[::1', 'http://127.0.0.1:8080/p?q=1', 'http:///', 'http://', 'http://a',
  'http://a?x=1', 'http://a:/', 'http://a:99999/', 'HTTP://A/', 'Http://a/', 'https://a/', 'ftp://a/', 'ws://a/', 'http:/a', 'http:a', '//a/p', 'a:443', 'a', '?x', '#f', '/#f',
  '/p#f', 'http://a/#f', '/p?q#f', '/%', '/%zz', '/%00', '/%0d%0a', '/a b', '/a\\b', '/\x7f', '/\x80', '/\xff', '/\x00', '/\x09', '/\x0b', '/\x0c', "/'\"<>{}|^`", '/[x]',
  'http://a/p\\q', 'http://evil.example@a/', 'http://a.example%2f@b/', 'http://%61/', 'http://a:80@b:443/', 'http://a/..%2f..%2f', '/../../etc/passwd', '/./a/../b',
  'http://a@', '@a', '/@a', 'http://a b/', 'http://[a]/', 'http://[::1]:x/', '*x', '**', '/*', 'x://', ':', 'http://a:80:80/', 'http://:80/', 'http://a./',
];
shape('targets', TARGETS.length, (i, r) => {
  const method = TARGETS[i] === '*' && chance(r, 0.7) ? 'OPTIONS' : pick(r, ['GET', 'GET', 'POST', 'OPTIONS', 'DELETE']);
  return withSmuggled(r, serialize({ method, target: TARGETS[i]!, version: 'HTTP/1.1', lines: ['Host: a', 'Content-Length: 0'], body: '' }));
});

export const CONNECT_TARGETS = ['a:443', 'a.example:443', '[::1]:443', '127.0.0.1:443', 'a', 'a:', ':443', 'http://a:443/', '/', '*', 'a:443/x', 'a:99999', 'a:b'];
shape('CONNECT', CONNECT_TARGETS.length, (i, r) =>
  serialize({ method: 'CONNECT', target: CONNECT_TARGETS[i]!, version: pick(r, ['HTTP/1.1', 'HTTP/1.0']), lines: [`Host: ${CONNECT_TARGETS[i]}`, ...(chance(r, 0.3) ? ['Content-Length: 5'] : [])], body: 'hello' + SMUGGLED }),
);

export const HOSTS_FIELDS = [['Host: a', 'Host: b'], ['Host:'], ['Host: '], ['Host: a b'], ['Host: a@b'], ['Host: [::1]:80'], ['Host: a:80:80'], ['Host: \xe9'], ['host: a', 'HOST: a'], []];
shape('Host fields', HOSTS_FIELDS.length, (i, r) => withSmuggled(r, serialize({ method: 'GET', target: pick(r, ['/', 'http://a/']), version: 'HTTP/1.1', lines: HOSTS_FIELDS[i]!, body: '' })));

export const CONNECTION_FIELDS = [
  'Connection: close', 'Connection: Close', 'Connection: CLOSE', 'Connection: keep-alive', 'Connection: close, keep-alive', 'Connection: keep-alive, close',
  'Connection: closed', 'Connection: close;x', 'Connection: x, close', 'Connection:  close  ', 'Connection: ,close', 'Connection: upgrade', 'Connection: Upgrade',
  'Connection: keep-alive, Upgrade', 'Connection: upgrade x', 'Connection: xupgrade', 'Connection: te, upgrade', 'Connection: keep-alive\r\nConnection: close',
  'Connection: \xa0close', 'Connection: close\xa0', 'Connection: keep-alive\xa0', 'Connection: \xa0keep-alive', 'Connection: upgrade\xa0', 'Connection: keep-alive\t',
];
shape('Connection fields', CONNECTION_FIELDS.length * 3, (i, r) => {
  const version = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/1.1'][Math.floor(i / CONNECTION_FIELDS.length)]!;
  const lines = ['Host: a', CONNECTION_FIELDS[i % CONNECTION_FIELDS.length]!];
  if (Math.floor(i / CONNECTION_FIELDS.length) === 2) lines.push(pick(r, ['Upgrade: websocket', 'Upgrade: h2c', 'upgrade: x']));
  return serialize({ method: 'GET', target: '/', version, lines, body: '' }) + SMUGGLED;
});

shape('Upgrade and Expect', 8, (i, r) => {
  const lines = [
    ['Upgrade: websocket', 'Connection: Upgrade', 'Content-Length: 5'],
    ['Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAAQAAP__'],
    ['Upgrade: websocket'],
    ['Upgrade:', 'Connection: upgrade'],
    ['Expect: 100-continue', 'Content-Length: 5'],
    ['Expect: 100-continue'],
    ['Expect: 100-continue', 'Transfer-Encoding: chunked'],
    ['Expect: 200-ok', 'Content-Length: 5'],
  ][i]!;
  const body = lines.some((l) => l.startsWith('Transfer')) ? CHUNKED_HELLO : lines.some((l) => l.startsWith('Content')) ? 'hello' : '';
  return withSmuggled(r, post(lines, body, pick(r, ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'])));
});

/** Bytes the app may put where only tokens, visible ASCII or obs-text belong. */
export const ODD_BYTES = [...Array.from({ length: 0x20 }, (_, c) => c), 0x7f, 0x80, 0x85, 0x9f, 0xa0, 0xc3, 0xff];

/**
 * A request cut into segments; a byte goes in between two of them (or replaces the first byte after the
 * cut). Every position class of a request: method, target, version, line ends, field names and values, chunk
 * sizes, extensions, data, trailers.
 */
export const SEGMENTS = [
  'PO', 'ST', ' ', '/p', 'a?q', '=1', ' ', 'HT', 'TP/1.1', '\r', '\n', 'Ho', 'st', ':', ' ', 'a.', 'example', '\r\n', 'X-A', ':', ' ', 'v', 'al', ' ', 'ue', '\r\n',
  'Connection', ':', ' ', 'keep-alive', '\r\n', 'Transfer-Encoding', ':', ' ', 'chun', 'ked', '\r\n', '\r\n',
  '5', ';', 'e', 'x', '=', '"q', 'v"', '\r', '\n', 'he', 'llo', '\r\n', '0', '\r\n', 'Tr', 'ailer', ':', ' ', 't', 'v', '\r\n', '\r\n',
];
export const ODD_BYTE_POSITIONS = SEGMENTS.length + 1;

export function oddByteStream(byteIndex: number, position: number, replace: boolean): string {
  const c = String.fromCharCode(ODD_BYTES[byteIndex]!);
  const before = SEGMENTS.slice(0, position).join('');
  let after = SEGMENTS.slice(position).join('');
  if (replace) after = after.slice(1);
  return before + c + after + SMUGGLED;
}

shape('control and high bytes in every position', ODD_BYTES.length * ODD_BYTE_POSITIONS * 2, (i) => {
  const b = i % ODD_BYTES.length;
  const rest = Math.floor(i / ODD_BYTES.length);
  return oddByteStream(b, rest % ODD_BYTE_POSITIONS, rest >= ODD_BYTE_POSITIONS);
});

shape('raw bytes >= 0x80 in targets, names and values', 12, (i, r) => {
  const hi = String.fromCharCode(between(r, 0x80, 0xff));
  const variants = [
    { target: `/${hi}`, lines: ['Host: a'] },
    { target: `/?q=${hi}`, lines: ['Host: a'] },
    { target: `http://${hi}/`, lines: ['Host: a'] },
    { target: '/', lines: [`Host: ${hi}`] },
    { target: '/', lines: ['Host: a', `X-${hi}: v`] },
    { target: '/', lines: ['Host: a', `X-A: ${hi}`] },
    { target: '/', lines: ['Host: a', `X-A: a${hi}b`] },
    { target: '/', lines: ['Host: a', `X-A: ${hi} `] },
    { target: '/', lines: ['Host: a', 'X-A: \xc3\xa9\xe2\x82\xac'] },
    { target: '/', lines: ['Host: a', 'X-A: \x85'] },
    { target: '/', lines: ['Host: a', `Content-Length: 5${hi}`] },
    { target: '/', lines: ['Host: a', `Transfer-Encoding: chunked${hi}`] },
  ][i]!;
  return withSmuggled(r, serialize({ method: 'GET', version: 'HTTP/1.1', body: '', ...variants }));
});

shape('header counts and sizes near the limits', 10, (i, r) => {
  const counts = [99, 100, 101, 150];
  if (i < counts.length) {
    const lines = ['Host: a'];
    for (let k = 1; k < counts[i]!; k++) lines.push(`X-H${k}: v`);
    return serialize({ method: 'GET', target: '/', version: 'HTTP/1.1', lines, body: '' });
  }
  // Head sizes around 16 KiB (the default MAX_HEADER_SIZE), the value or the target carrying the bulk.
  const sizes = [16_300, 16_384 - 40, 16_384 - 10, 16_400, 20_000, 70_000];
  const size = sizes[i - counts.length]!;
  const inTarget = chance(r, 0.3);
  const pad = 'x'.repeat(Math.max(0, size - 60));
  return serialize({ method: 'GET', target: inTarget ? `/${pad}` : '/', version: 'HTTP/1.1', lines: ['Host: a', ...(inTarget ? [] : [`X-Big: ${pad}`])], body: '' });
});

shape('pipelined after a body', 8, (i, r) => {
  const first = [
    post(['Content-Length: 5'], 'hello'),
    post(['Content-Length: 0'], ''),
    post(['Transfer-Encoding: chunked'], CHUNKED_HELLO),
    post(['Transfer-Encoding: chunked'], '0\r\nX-T: 1\r\n\r\n'),
    post(['Content-Length: 3'], 'hello'),
    post(['Content-Length: 7'], 'hello'),
    serialize({ method: 'GET', target: '/', version: 'HTTP/1.1', lines: ['Host: a', 'Connection: close'], body: '' }),
    serialize({ method: 'GET', target: '/', version: 'HTTP/1.0', lines: ['Host: a'], body: '' }),
  ][i]!;
  return first + (chance(r, 0.3) ? '\r\n' : '') + serialize(wellFormedParts(r));
});

export const SHAPES: readonly Shape[] = shapes;

/** One entry of one shape, drawn at random. */
export function smugglingShape(r: Rand): Stream {
  const s = pick(r, SHAPES);
  return { family: s.family, text: s.stream(int(r, s.size), r) };
}

/** Every entry of every shape, in order: the deterministic part of a run. */
export function requestSweepSize(): number {
  return SHAPES.reduce((n, s) => n + s.size, 0);
}

export function requestSweep(k: number, r: Rand): Stream {
  for (const s of SHAPES) {
    if (k < s.size) return { family: `sweep: ${s.family}`, text: s.stream(k, r) };
    k -= s.size;
  }
  throw new RangeError('sweep index out of range');
}
