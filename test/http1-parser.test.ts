// Named regression tests of the strict HTTP/1.1 parsers (issue 11): each request-smuggling shape with the
// verdict of OUR parser (status and message) and llhttp's (node:http's parser), the ones llhttp accepts and
// we refuse included; each verdict the same however the bytes are cut. Then the chunked decoder and both
// readers across every cut. The differential fuzzer (test/parser-differential.test.ts, npm run fuzz) is the
// exhaustive version of the first part; these name the shapes so that a regression says which one.
//
// FIXED DISAGREEMENTS (D1-D11): shapes the differential fuzzer found where ours accepted what llhttp refuses
// (or read it differently). Each is kept, named after its finding, with the verdict ours now reaches: refused,
// as llhttp does.

import { describe, expect, it } from 'vitest';
import type { BadRequestError } from '../proxy/src/errors.js';
import { ChunkedDecoder } from '../proxy/src/http1-chunked.js';
import { RequestReader } from '../proxy/src/http1-request-reader.js';
import { ResponseReader } from '../proxy/src/http1-response-reader.js';
import { REQUEST_LIMITS, RESPONSE_LIMITS } from './fuzz/differential/campaign.js';
import { NodeRequestOracle } from './fuzz/differential/node-llhttp.js';
import { requestFingerprint, responseFingerprint } from './fuzz/differential/compare.js';
import { readRequests, readResponses, type OurRequests, type OurResponses } from './fuzz/differential/ours.js';
import { UndiciResponseOracle } from './fuzz/differential/undici-llhttp.js';

const nodeLlhttp = new NodeRequestOracle(REQUEST_LIMITS.maxHeaderSize);
const undiciLlhttp = new UndiciResponseOracle(RESPONSE_LIMITS.maxHeaderSize);

/** Every way to cut `b` in two, and one byte at a time. */
function cuts(b: Buffer): Buffer[][] {
  const out: Buffer[][] = [[b]];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  const bytes: Buffer[] = [];
  for (let i = 0; i < b.length; i++) bytes.push(b.subarray(i, i + 1));
  out.push(bytes);
  return out;
}

/** Our verdict in words: `accepts N` (requests read whole), `<status> <message>`, or the app connection's refusal. */
function ourVerdict(r: OurRequests): string {
  if (r.thrown !== undefined) return `threw ${r.thrown}`;
  if (r.error !== undefined) return `${r.error.status} ${r.error.message}`;
  const refused = r.requests.find((q) => q.refusedAtHead !== undefined);
  if (refused !== undefined) return `refused at the head: ${refused.refusedAtHead}`;
  return `accepts ${r.requests.filter((q) => q.complete).length}${r.partial ? ', then waits' : ''}`;
}

/**
 * Ours over every cut (both next() timings): one verdict, or the test fails naming the cut. The verdict of
 * a cut is its status (or acceptance): which fault a refusal names first may depend on how much of the head
 * had arrived (a bare CR seen before the head's end, or only once the whole head is parsed).
 */
function oursOverCuts(text: string): string {
  const b = Buffer.from(text, 'latin1');
  const whole = ourVerdict(readRequests([b], 'in-event', REQUEST_LIMITS));
  const status = (v: string): string => (/^\d{3} /.test(v) ? v.slice(0, 3) : v);
  const pieces = b.length <= 400 ? cuts(b) : [[b], [b.subarray(0, b.length >> 1), b.subarray(b.length >> 1)]];
  for (const p of pieces) {
    for (const mode of ['in-event', 'after-push'] as const) {
      expect(status(ourVerdict(readRequests(p, mode, REQUEST_LIMITS))), `cut ${p.map((x) => x.length).join('+')}, next() ${mode}`).toBe(status(whole));
    }
  }
  return whole;
}

/** llhttp's verdict on the first request: refuses (an error before that request is complete) or accepts. */
function llhttpVerdict(text: string): string {
  const ll = nodeLlhttp.parse(Buffer.from(text, 'latin1'));
  if (ll.error !== undefined && !ll.requests[0]?.complete) return `refuses (${ll.error.code})`;
  return 'accepts';
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: evil.example\r\n\r\n';
const CHUNKED_HELLO = '5\r\nhello\r\n0\r\n\r\n';
function post(lines: string[], body: string, version = 'HTTP/1.1'): string {
  return `POST /upload ${version}\r\nHost: a\r\n${lines.map((l) => l + '\r\n').join('')}\r\n${body}`;
}
function get(target: string, lines: string[] = ['Host: a'], method = 'GET', version = 'HTTP/1.1'): string {
  return `${method} ${target} ${version}\r\n${lines.map((l) => l + '\r\n').join('')}\r\n`;
}

interface Shape {
  readonly name: string;
  readonly text: string;
  /** Our verdict (see ourVerdict); for a known disagreement, the status it must have. */
  readonly ours: string;
  readonly llhttp: 'accepts' | 'refuses';
  /** Ours accepts what llhttp refuses: the fix the report proposes. */
  readonly disagreement?: string;
}

const bad = (m: string): string => `400 malformed HTTP request: ${m}`;
const badChunk = (m: string): string => bad(`invalid chunked body: ${m}`);

const REQUEST_SHAPES: Shape[] = [
  // Content-Length and Transfer-Encoding together, either order
  { name: 'CL+TE', text: post(['Content-Length: 5', 'Transfer-Encoding: chunked'], CHUNKED_HELLO + SMUGGLED), ours: bad('both Content-Length and Transfer-Encoding'), llhttp: 'refuses' },
  { name: 'TE+CL', text: post(['Transfer-Encoding: chunked', 'Content-Length: 5'], CHUNKED_HELLO + SMUGGLED), ours: bad('both Content-Length and Transfer-Encoding'), llhttp: 'refuses' },
  // duplicate or signed Content-Length
  { name: 'CL twice, same value', text: post(['Content-Length: 5', 'Content-Length: 5'], 'hello' + SMUGGLED), ours: bad('more than one Content-Length'), llhttp: 'refuses' },
  { name: 'CL twice, different values', text: post(['Content-Length: 5', 'Content-Length: 6'], 'hello!' + SMUGGLED), ours: bad('more than one Content-Length'), llhttp: 'refuses' },
  { name: 'CL list "5, 5"', text: post(['Content-Length: 5, 5'], 'hello' + SMUGGLED), ours: bad('invalid Content-Length "5, 5"'), llhttp: 'refuses' },
  { name: 'CL "+5"', text: post(['Content-Length: +5'], 'hello' + SMUGGLED), ours: bad('invalid Content-Length "+5"'), llhttp: 'refuses' },
  { name: 'CL "-1"', text: post(['Content-Length: -1'], 'hello' + SMUGGLED), ours: bad('invalid Content-Length "-1"'), llhttp: 'refuses' },
  { name: 'CL "0x5"', text: post(['Content-Length: 0x5'], 'hello' + SMUGGLED), ours: bad('invalid Content-Length "0x5"'), llhttp: 'refuses' },
  { name: 'CL "5 5"', text: post(['Content-Length: 5 5'], 'hello' + SMUGGLED), ours: bad('invalid Content-Length "5 5"'), llhttp: 'refuses' },
  { name: 'CL empty', text: post(['Content-Length:'], 'hello' + SMUGGLED), ours: bad('invalid Content-Length ""'), llhttp: 'refuses' },
  { name: 'CL with leading zeros (forwarded as the number)', text: post(['Content-Length: 0005'], 'hello' + SMUGGLED), ours: 'accepts 2', llhttp: 'accepts' },
  { name: 'CL with a trailing space', text: post(['Content-Length: 5 '], 'hello' + SMUGGLED), ours: 'accepts 2', llhttp: 'accepts' },
  { name: 'CL huge (20 digits)', text: post(['Content-Length: 99999999999999999999'], 'hello'), ours: bad('Content-Length 99999999999999999999 is too large'), llhttp: 'refuses' },
  { name: 'CL of 16 digits (llhttp accepts, we refuse: above 2^53)', text: post(['Content-Length: 1000000000000000'], 'hello'), ours: bad('Content-Length 1000000000000000 is too large'), llhttp: 'accepts' },
  { name: 'CL with a trailing tab', text: post(['Content-Length: 5\t'], 'hello' + SMUGGLED), ours: '400', llhttp: 'refuses', disagreement: 'D1' },
  // Transfer-Encoding lists, case and white space
  { name: 'TE "chunked, chunked"', text: post(['Transfer-Encoding: chunked, chunked'], CHUNKED_HELLO + SMUGGLED), ours: bad('chunked applied more than once'), llhttp: 'refuses' },
  { name: 'TE twice, chunked + chunked', text: post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], CHUNKED_HELLO + SMUGGLED), ours: bad('chunked applied more than once'), llhttp: 'refuses' },
  {
    name: 'TE "gzip, chunked" (llhttp accepts, we answer 501: the proxy de-chunks and would relay gzip unlabelled)',
    text: post(['Transfer-Encoding: gzip, chunked'], CHUNKED_HELLO + SMUGGLED),
    ours: '501 Transfer-Encoding "gzip, chunked" is not supported: only "chunked" alone is (send the body with Content-Encoding instead); the request was not forwarded',
    llhttp: 'accepts',
  },
  {
    name: 'TE twice, gzip + chunked (llhttp accepts, we answer 501)',
    text: post(['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], CHUNKED_HELLO + SMUGGLED),
    ours: '501 Transfer-Encoding "gzip, chunked" is not supported: only "chunked" alone is (send the body with Content-Encoding instead); the request was not forwarded',
    llhttp: 'accepts',
  },
  { name: 'TE "chunked, gzip"', text: post(['Transfer-Encoding: chunked, gzip'], CHUNKED_HELLO + SMUGGLED), ours: bad('Transfer-Encoding does not end in chunked, so the body length is unknown'), llhttp: 'refuses' },
  { name: 'TE "identity"', text: post(['Transfer-Encoding: identity'], CHUNKED_HELLO + SMUGGLED), ours: bad('Transfer-Encoding does not end in chunked, so the body length is unknown'), llhttp: 'refuses' },
  { name: 'TE "xchunked"', text: post(['Transfer-Encoding: xchunked'], CHUNKED_HELLO + SMUGGLED), ours: bad('Transfer-Encoding does not end in chunked, so the body length is unknown'), llhttp: 'refuses' },
  { name: 'TE " chunked" (leading white space is OWS)', text: post(['Transfer-Encoding:  chunked'], CHUNKED_HELLO + SMUGGLED), ours: 'accepts 2', llhttp: 'accepts' },
  { name: 'TE "CHUNKED" (case-insensitive)', text: post(['Transfer-Encoding: CHUNKED'], CHUNKED_HELLO + SMUGGLED), ours: 'accepts 2', llhttp: 'accepts' },
  { name: 'TE empty (llhttp reads no body: the chunks become the next request)', text: post(['Transfer-Encoding:'], CHUNKED_HELLO + SMUGGLED), ours: bad('empty Transfer-Encoding'), llhttp: 'accepts' },
  { name: 'TE "chunked\\t" (trailing tab)', text: post(['Transfer-Encoding: chunked\t'], CHUNKED_HELLO + SMUGGLED), ours: '400', llhttp: 'refuses', disagreement: 'D2' },
  { name: 'TE "chunked," (trailing comma)', text: post(['Transfer-Encoding: chunked,'], CHUNKED_HELLO + SMUGGLED), ours: '400', llhttp: 'refuses', disagreement: 'D3' },
  { name: 'TE "\\xa0chunked" (NBSP, which String#trim strips)', text: post(['Transfer-Encoding: \xa0chunked'], CHUNKED_HELLO + SMUGGLED), ours: '400', llhttp: 'refuses', disagreement: 'D10' },
  { name: 'TE "chunked\\xa0"', text: post(['Transfer-Encoding: chunked\xa0'], CHUNKED_HELLO + SMUGGLED), ours: '400', llhttp: 'refuses', disagreement: 'D10' },
  { name: 'Transfer-Encoding on HTTP/1.0', text: post(['Transfer-Encoding: chunked'], CHUNKED_HELLO + SMUGGLED, 'HTTP/1.0'), ours: bad('Transfer-Encoding on an HTTP/1.0 request'), llhttp: 'accepts' },
  // white space before the colon, obs-fold, bare CR and LF, control bytes
  { name: '"Transfer-Encoding : chunked" (white space before the colon)', text: post(['Transfer-Encoding : chunked'], CHUNKED_HELLO + SMUGGLED), ours: bad('white space between a header name and its colon'), llhttp: 'refuses' },
  { name: '"Host : a"', text: get('/', ['Host : a']), ours: bad('white space between a header name and its colon'), llhttp: 'refuses' },
  { name: 'obs-fold', text: get('/', ['Host: a', 'X-A: a', ' b']), ours: bad('obsolete line folding (a header line starting with white space) is not accepted'), llhttp: 'refuses' },
  { name: 'obs-fold of Transfer-Encoding', text: post(['Transfer-Encoding:', ' chunked'], CHUNKED_HELLO + SMUGGLED), ours: bad('empty Transfer-Encoding'), llhttp: 'refuses' },
  { name: 'bare CR in a value', text: get('/', ['Host: a', 'X-A: a\rb']), ours: bad('bare CR in the request head'), llhttp: 'refuses' },
  { name: 'bare LF line ends', text: 'GET / HTTP/1.1\nHost: a\n\n', ours: bad('bare LF in the request head (lines end in CRLF)'), llhttp: 'refuses' },
  { name: 'bare LF after a field', text: 'GET / HTTP/1.1\r\nHost: a\n\r\n', ours: bad('bare LF in the request head (lines end in CRLF)'), llhttp: 'refuses' },
  { name: 'NUL in a value', text: get('/', ['Host: a', 'X-A: a\x00b']), ours: bad('invalid byte 0x00 in the value of header "x-a"'), llhttp: 'refuses' },
  { name: 'NUL in a name', text: get('/', ['Host: a', 'X\x00A: b']), ours: bad('invalid byte 0x00 in a header name'), llhttp: 'refuses' },
  { name: 'DEL in a value', text: get('/', ['Host: a', 'X-A: a\x7fb']), ours: bad('invalid byte 0x7f in the value of header "x-a"'), llhttp: 'refuses' },
  { name: 'C1 byte 0x85 in a value (llhttp accepts; SigV4 verifiers disagree on it)', text: get('/', ['Host: a', 'X-A: a\x85b']), ours: bad('invalid byte 0x85 in the value of header "x-a"'), llhttp: 'accepts' },
  { name: 'obs-text 0xE9 in a value', text: get('/', ['Host: a', 'X-A: caf\xe9']), ours: 'accepts 1', llhttp: 'accepts' },
  // chunk sizes and extensions
  { name: 'chunk size "0x5"', text: post(['Transfer-Encoding: chunked'], '0x5\r\nhello\r\n0\r\n\r\n'), ours: badChunk('invalid chunk size'), llhttp: 'refuses' },
  { name: 'chunk size "5 " (trailing space)', text: post(['Transfer-Encoding: chunked'], '5 \r\nhello\r\n0\r\n\r\n'), ours: badChunk('invalid chunk size'), llhttp: 'refuses' },
  { name: 'chunk size "5 ;a" (space before the extension)', text: post(['Transfer-Encoding: chunked'], '5 ;a\r\nhello\r\n0\r\n\r\n'), ours: badChunk('invalid chunk size'), llhttp: 'refuses' },
  { name: 'chunk size of 17 hex digits', text: post(['Transfer-Encoding: chunked'], '10000000000000000\r\nhello\r\n0\r\n\r\n'), ours: badChunk('chunk size too large'), llhttp: 'refuses' },
  { name: 'chunk size with leading zeros (17 digits, value 5)', text: post(['Transfer-Encoding: chunked'], '00000000000000005\r\nhello\r\n0\r\n\r\n'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'chunk extensions', text: post(['Transfer-Encoding: chunked'], '5;a=b;c\r\nhello\r\n0;d\r\n\r\n'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'chunk extension, quoted with escapes', text: post(['Transfer-Encoding: chunked'], '5;a="x\\"y\\\\"\r\nhello\r\n0\r\n\r\n'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'chunk extension, quote not closed', text: post(['Transfer-Encoding: chunked'], '5;a="x\r\nhello\r\n0\r\n\r\n'), ours: badChunk('invalid chunk extension value'), llhttp: 'refuses' },
  { name: 'chunk extension ";=b" (no name; llhttp accepts)', text: post(['Transfer-Encoding: chunked'], '5;=b\r\nhello\r\n0\r\n\r\n'), ours: badChunk('invalid chunk extension'), llhttp: 'accepts' },
  { name: 'chunk data longer than its size', text: post(['Transfer-Encoding: chunked'], '5\r\nhelloX\r\n0\r\n\r\n'), ours: badChunk('chunk data longer than its size'), llhttp: 'refuses' },
  { name: 'chunk size line over 4 KiB', text: post(['Transfer-Encoding: chunked'], '5' + ';a'.repeat(2100) + '\r\nhello\r\n0\r\n\r\n'), ours: badChunk('chunk size line too long'), llhttp: 'accepts' },
  { name: 'trailer fields', text: post(['Transfer-Encoding: chunked'], '0\r\nX-Checksum: abc\r\n\r\n' + SMUGGLED), ours: 'accepts 2', llhttp: 'accepts' },
  { name: 'Content-Length in the trailer section', text: post(['Transfer-Encoding: chunked'], '0\r\nContent-Length: 5\r\n\r\n'), ours: '400', llhttp: 'refuses', disagreement: 'D5' },
  // absolute-form and authority edge cases
  { name: 'absolute-form', text: get('http://a.example/p?q'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'absolute-form with user info "http://a@b/"', text: get('http://a@b/'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'absolute-form "http://[::1]:80/"', text: get('http://[::1]:80/'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'absolute-form with an empty host "http:///"', text: get('http:///'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'absolute-form "HTTP://A/"', text: get('HTTP://A/'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'absolute-form "http:/a" (one slash)', text: get('http:/a'), ours: '400', llhttp: 'refuses', disagreement: 'D4' },
  { name: 'target "a" (no form at all)', text: get('a'), ours: '400', llhttp: 'refuses', disagreement: 'D4' },
  { name: 'absolute-form with "{" in the host', text: get('http://{::1]/'), ours: '400', llhttp: 'refuses', disagreement: 'D4' },
  { name: 'CONNECT host:443', text: get('a.example:443', ['Host: a.example:443'], 'CONNECT'), ours: 'refused at the head: CONNECT (405 at the app connection)', llhttp: 'accepts' },
  { name: 'OPTIONS *', text: get('*', ['Host: a'], 'OPTIONS'), ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'fragment in the target (llhttp accepts)', text: get('/p#f'), ours: bad('the request target has a fragment (#...); a request-target never carries one'), llhttp: 'accepts' },
  { name: 'raw 0x80 in the target', text: get('/\x80'), ours: bad('invalid byte 0x80 in the request target'), llhttp: 'refuses' },
  // versions, methods, connection semantics, limits
  { name: 'HTTP/1.0 with keep-alive, pipelined', text: get('/', ['Host: a', 'Connection: keep-alive'], 'GET', 'HTTP/1.0') + SMUGGLED, ours: 'accepts 2', llhttp: 'accepts' },
  { name: 'HTTP/1.0 without keep-alive: nothing read after it', text: get('/', ['Host: a'], 'GET', 'HTTP/1.0') + SMUGGLED, ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'Connection: close: nothing read after it', text: get('/', ['Host: a', 'Connection: close']) + SMUGGLED, ours: 'accepts 1', llhttp: 'accepts' },
  { name: 'HTTP/1.0 "Connection: keep-alive\\xa0" (llhttp closes; the pipelined request must not be read)', text: get('/', ['Host: a', 'Connection: keep-alive\xa0'], 'GET', 'HTTP/1.0') + SMUGGLED, ours: 'accepts 1', llhttp: 'accepts', disagreement: 'D10' },
  { name: 'HTTP/1.0 "Connection: keep-alive\\t" (llhttp closes; the pipelined request must not be read)', text: get('/', ['Host: a', 'Connection: keep-alive\t'], 'GET', 'HTTP/1.0') + SMUGGLED, ours: '400', llhttp: 'accepts', disagreement: 'D11' },
  { name: 'Connection: close in the trailer section', text: post(['Transfer-Encoding: chunked'], '0\r\nConnection: close\r\n\r\n' + SMUGGLED), ours: '400', llhttp: 'accepts', disagreement: 'D6' },
  { name: 'HTTP/2.0 in a request line (llhttp accepts)', text: get('/', ['Host: a'], 'GET', 'HTTP/2.0'), ours: bad('the request line does not end in HTTP/1.1 or HTTP/1.0'), llhttp: 'accepts' },
  { name: 'lower-case method', text: get('/', ['Host: a'], 'get'), ours: bad('unknown method "get"'), llhttp: 'refuses' },
  { name: 'Upgrade: websocket', text: get('/', ['Host: a', 'Upgrade: websocket', 'Connection: Upgrade']), ours: 'refused at the head: Upgrade with Connection: upgrade (501 at the app connection)', llhttp: 'accepts' },
  { name: '101 header lines (llhttp accepts)', text: get('/', Array.from({ length: 101 }, (_, i) => `X-${i}: v`)), ours: '431 request header block is larger than the sidecar accepts (more than 100 header lines)', llhttp: 'accepts' },
  { name: 'head over MAX_HEADER_SIZE', text: get('/', ['Host: a', `X: ${'a'.repeat(16_400)}`]), ours: '431 request header block is larger than the sidecar accepts', llhttp: 'refuses' },
  { name: 'empty lines before the request line', text: '\r\n\r\n' + get('/'), ours: 'accepts 1', llhttp: 'accepts' },
];

describe('request smuggling shapes: our verdict (every cut) and llhttp’s', () => {
  for (const s of REQUEST_SHAPES) {
    if (s.disagreement !== undefined) {
      it(`${s.disagreement} (found by the differential fuzzer, fixed): ${s.name} → ours refuses (${s.ours}), as llhttp does`, () => {
        expect(llhttpVerdict(s.text).startsWith(s.llhttp === 'accepts' ? 'accepts' : 'refuses')).toBe(true);
        expect(oursOverCuts(s.text).startsWith(s.ours)).toBe(true);
      });
      continue;
    }
    it(`${s.name} → ${s.ours}`, () => {
      expect(oursOverCuts(s.text)).toBe(s.ours);
      expect(llhttpVerdict(s.text).split(' ')[0]).toBe(s.llhttp);
    });
  }

  it('every control byte in a field value, a field name and the target is refused (llhttp too)', () => {
    for (let c = 0; c < 0x20; c++) {
      if (c === 0x09) continue; // HTAB is white space in a value
      const ch = String.fromCharCode(c);
      for (const text of [get('/', ['Host: a', `X-A: a${ch}b`]), get('/', ['Host: a', `X${ch}A: b`]), get(`/a${ch}b`)]) {
        const v = oursOverCuts(text);
        expect(v.startsWith('400 '), `byte 0x${c.toString(16)} in ${JSON.stringify(text)}: ${v}`).toBe(true);
        expect(llhttpVerdict(text).startsWith('refuses'), JSON.stringify(text)).toBe(true);
      }
    }
  });
});

// ---------------------------------------------------------------- response shapes

/** Our reading of one answer: `accepts <status> <body> (reused|not reused)` or `refuses: <message>`. */
function ourResponseVerdict(r: OurResponses): string {
  if (r.thrown !== undefined) return `threw ${r.thrown}`;
  if (r.error !== undefined) return `refuses: ${r.error.message}`;
  const q = r.responses[0];
  if (q === undefined || !q.complete) return 'still reading';
  return `accepts ${q.status} ${JSON.stringify(Buffer.concat(q.body).toString('latin1'))} (${q.reusable && !r.spoiled ? 'reused' : 'not reused'})`;
}

function responseOverCuts(text: string, head: boolean, eof: boolean): string {
  const b = Buffer.from(text, 'latin1');
  const whole = ourResponseVerdict(readResponses([{ head, pieces: [b] }], eof, RESPONSE_LIMITS));
  for (const p of cuts(b)) expect(ourResponseVerdict(readResponses([{ head, pieces: p }], eof, RESPONSE_LIMITS)), `cut ${p.map((x) => x.length).join('+')}`).toBe(whole);
  return whole;
}

/** undici's llhttp on the answer: refuses (an error before the first final answer is complete) or accepts. */
function undiciVerdict(text: string, head: boolean, eof: boolean): string {
  const ll = undiciLlhttp.parse([{ head, bytes: Buffer.from(text, 'latin1') }], eof);
  const final = ll.responses.find((r) => r.request === 0);
  if (ll.error !== undefined && !final?.complete) return `refuses (${ll.error.code})`;
  return 'accepts';
}

interface ResponseShape {
  readonly name: string;
  readonly text: string;
  readonly head?: boolean;
  readonly eof?: boolean;
  readonly ours: string;
  readonly llhttp: 'accepts' | 'refuses';
  readonly disagreement?: string;
}

const refuses = (m: string): string => `refuses: ${m}`;
const ok200 = (lines: string[], body: string): string => `HTTP/1.1 200 OK\r\n${lines.map((l) => l + '\r\n').join('')}\r\n${body}`;

const RESPONSE_SHAPES: ResponseShape[] = [
  { name: 'Content-Length and Transfer-Encoding', text: ok200(['Content-Length: 5', 'Transfer-Encoding: chunked'], CHUNKED_HELLO), ours: refuses('both Content-Length and Transfer-Encoding in the response'), llhttp: 'refuses' },
  { name: 'Content-Length twice', text: ok200(['Content-Length: 5', 'Content-Length: 5'], 'hello'), ours: refuses('more than one Content-Length in the response'), llhttp: 'refuses' },
  { name: 'Content-Length "+5"', text: ok200(['Content-Length: +5'], 'hello'), ours: refuses('invalid Content-Length in the response'), llhttp: 'refuses' },
  { name: 'Transfer-Encoding "gzip, chunked" (llhttp de-chunks; we relay identity or chunked only)', text: ok200(['Transfer-Encoding: gzip, chunked'], CHUNKED_HELLO), ours: refuses('unsupported response Transfer-Encoding "gzip, chunked"'), llhttp: 'accepts' },
  { name: 'Transfer-Encoding "chunked, gzip" (llhttp reads until close)', text: ok200(['Transfer-Encoding: chunked, gzip'], 'abc'), eof: true, ours: refuses('unsupported response Transfer-Encoding "chunked, gzip"'), llhttp: 'accepts' },
  { name: 'Transfer-Encoding "chunked\\t" (llhttp reads until close)', text: ok200(['Transfer-Encoding: chunked\t'], CHUNKED_HELLO), eof: true, ours: 'refuses', llhttp: 'accepts', disagreement: 'D2' },
  { name: 'Transfer-Encoding "chunked," (llhttp reads until close)', text: ok200(['Transfer-Encoding: chunked,'], CHUNKED_HELLO), eof: true, ours: 'refuses', llhttp: 'accepts', disagreement: 'D3' },
  { name: 'Content-Length "5\\t"', text: ok200(['Content-Length: 5\t'], 'hello'), ours: 'refuses', llhttp: 'refuses', disagreement: 'D1' },
  { name: 'Transfer-Encoding "\\xa0chunked" (llhttp reads until close)', text: ok200(['Transfer-Encoding: \xa0chunked'], CHUNKED_HELLO), eof: true, ours: 'refuses', llhttp: 'accepts', disagreement: 'D10' },
  { name: 'HTTP/1.0 "Connection: keep-alive\\t" (llhttp closes)', text: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\t\r\nContent-Length: 2\r\n\r\nok', ours: 'refuses', llhttp: 'accepts', disagreement: 'D11' },
  { name: 'Content-Length in the trailer section', text: ok200(['Transfer-Encoding: chunked'], '0\r\nContent-Length: 5\r\n\r\n'), ours: 'refuses', llhttp: 'refuses', disagreement: 'D5' },
  { name: '304 with Content-Length and Transfer-Encoding', text: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', ours: 'refuses', llhttp: 'refuses', disagreement: 'D8' },
  { name: 'HTTP/1.0 100 Continue before the answer (llhttp closes after it)', text: 'HTTP/1.0 100 Continue\r\n\r\n' + ok200(['Content-Length: 2'], 'ok'), ours: 'refuses', llhttp: 'refuses', disagreement: 'D7' },
  { name: '103 with Connection: close before the answer (llhttp closes after it)', text: 'HTTP/1.1 103 Early Hints\r\nConnection: close\r\n\r\n' + ok200(['Content-Length: 2'], 'ok'), ours: 'refuses', llhttp: 'refuses', disagreement: 'D7' },
  { name: 'obs-fold', text: ok200(['X-A: a', ' b', 'Content-Length: 0'], ''), ours: refuses('obsolete line folding in the response'), llhttp: 'refuses' },
  { name: 'white space before the colon', text: ok200(['Content-Length : 2'], 'ok'), ours: refuses('invalid header name in the response'), llhttp: 'refuses' },
  { name: 'bare LF', text: 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', ours: refuses('bare LF in the response head'), llhttp: 'refuses' },
  { name: 'NUL in a value', text: ok200(['X-A: a\x00', 'Content-Length: 0'], ''), ours: refuses('invalid byte in a response header value'), llhttp: 'refuses' },
  { name: 'obs-text in a value', text: ok200(['X-A: caf\xe9\x85', 'Content-Length: 0'], ''), ours: 'accepts 200 "" (reused)', llhttp: 'accepts' },
  { name: 'no reason phrase', text: 'HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok', ours: 'accepts 200 "ok" (reused)', llhttp: 'accepts' },
  { name: 'status 600 (llhttp accepts)', text: 'HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok', ours: refuses('invalid status code'), llhttp: 'accepts' },
  { name: 'HEAD answer with a Content-Length: no body', text: ok200(['Content-Length: 5'], ''), head: true, ours: 'accepts 200 "" (reused)', llhttp: 'accepts' },
  { name: '204 with chunked: no body', text: 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n', ours: 'accepts 204 "" (reused)', llhttp: 'accepts' },
  { name: '304 with the Content-Length of the representation: no body (undici refuses it, a policy)', text: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n', ours: 'accepts 304 "" (reused)', llhttp: 'accepts' },
  { name: 'a body until close, then EOF', text: ok200([], 'until close'), eof: true, ours: 'accepts 200 "until close" (not reused)', llhttp: 'accepts' },
  { name: '100 Continue skipped (undici refuses it, a policy)', text: 'HTTP/1.1 100 Continue\r\n\r\n' + ok200(['Content-Length: 2'], 'ok'), ours: 'accepts 200 "ok" (reused)', llhttp: 'accepts' },
  { name: '101 nobody asked for', text: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n', ours: refuses('the upstream switched protocols (101) without being asked'), llhttp: 'refuses' },
  { name: 'bytes after the answer: the connection is not reused', text: ok200(['Content-Length: 2'], 'okHTTP/1.1 200 OK\r\n\r\n'), ours: 'accepts 200 "ok" (not reused)', llhttp: 'accepts' },
  { name: 'HTTP/1.0 answer without keep-alive: not reused', text: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', ours: 'accepts 200 "ok" (not reused)', llhttp: 'accepts' },
];

describe('response shapes: our verdict (every cut) and undici llhttp’s', () => {
  for (const s of RESPONSE_SHAPES) {
    const head = s.head ?? false;
    const eof = s.eof ?? false;
    if (s.disagreement !== undefined) {
      it(`${s.disagreement} (found by the differential fuzzer, fixed): ${s.name} → ours refuses`, () => {
        expect(undiciVerdict(s.text, head, eof).split(' ')[0]).toBe(s.llhttp);
        expect(responseOverCuts(s.text, head, eof).startsWith(s.ours)).toBe(true);
      });
      continue;
    }
    it(`${s.name} → ${s.ours}`, () => {
      expect(responseOverCuts(s.text, head, eof)).toBe(s.ours);
      expect(undiciVerdict(s.text, head, eof).split(' ')[0]).toBe(s.llhttp);
    });
  }
});

// ---------------------------------------------------------------- the chunked decoder

function fail(message: string): never {
  throw new Error(message);
}

/** Decode `pieces` with one decoder: the data, where the message ended (in the joined stream), or the error. */
function decode(pieces: readonly Buffer[], maxTrailerBytes = 1024): { data: string; end: number; error?: string } {
  const d = new ChunkedDecoder(fail, maxTrailerBytes);
  let data = '';
  let offset = 0;
  try {
    for (const p of pieces) {
      const end = d.feed(p, 0, p.length, { onChunkData: (b, s, e) => (data += b.toString('latin1', s, e)) });
      if (end >= 0) return { data, end: offset + end };
      offset += p.length;
    }
    return { data, end: -1 };
  } catch (err) {
    return { data, end: -1, error: (err as Error).message };
  }
}

describe('ChunkedDecoder', () => {
  function same(text: string): { data: string; end: number; error?: string } {
    const b = Buffer.from(text, 'latin1');
    const whole = decode([b]);
    for (const p of cuts(b)) expect(decode(p), `cut ${p.map((x) => x.length).join('+')}`).toEqual(whole);
    return whole;
  }

  it('decodes chunks, extensions and trailers across every cut, and stops at the end of the message', () => {
    const body = '5;a=b\r\nhello\r\n6;q="x\\"y"\r\n world\r\n0\r\nX-T: 1\r\n\r\n';
    expect(same(body + 'NEXT')).toEqual({ data: 'hello world', end: body.length });
  });

  it('passes data on as it arrives: a cut inside a chunk delivers the first part at once', () => {
    const d = new ChunkedDecoder(fail, 1024);
    const got: string[] = [];
    const sink = { onChunkData: (b: Buffer, s: number, e: number) => got.push(b.toString('latin1', s, e)) };
    expect(d.feed(Buffer.from('a\r\n01234'), 0, 8, sink)).toBe(-1);
    expect(got).toEqual(['01234']);
    const rest = Buffer.from('56789\r\n0\r\n\r\n');
    expect(d.feed(rest, 0, rest.length, sink)).toBe(rest.length);
    expect(got).toEqual(['01234', '56789']);
    expect(d.done).toBe(true);
  });

  it('is reusable after reset()', () => {
    const d = new ChunkedDecoder(fail, 1024);
    const sink = { onChunkData: () => {} };
    const msg = Buffer.from('1\r\nx\r\n0\r\n\r\n');
    expect(d.feed(msg, 0, msg.length, sink)).toBe(msg.length);
    d.reset();
    expect(d.done).toBe(false);
    expect(d.feed(msg, 0, msg.length, sink)).toBe(msg.length);
  });

  it('takes 16 significant hex digits up to 2^53 - 1 and refuses more', () => {
    expect(same('1fffffffffffff\r\n').error).toBeUndefined();
    expect(same('20000000000000\r\n').error).toBe('chunk size too large');
    expect(same('00000000000000000000001\r\nx\r\n0\r\n\r\n')).toEqual({ data: 'x', end: 33 });
    expect(same('10000000000000000\r\n').error).toBe('chunk size too large');
  });

  it('limits a size line to 4 KiB and the trailer section to its limit', () => {
    const line = (n: number): string => '1;' + 'a'.repeat(n - 4) + '\r\n';
    expect(line(4096).length).toBe(4096);
    expect(decode([Buffer.from(line(4096) + 'x\r\n0\r\n\r\n')]).error).toBeUndefined();
    expect(decode([Buffer.from(line(4097) + 'x\r\n0\r\n\r\n')]).error).toBe('chunk size line too long');
    expect(decode([Buffer.from('0\r\nX: ' + 'v'.repeat(100) + '\r\n\r\n')], 64).error).toBe('trailer section too large');
  });

  it('refuses each malformed chunk the same way however it is cut', () => {
    const cases: [string, string][] = [
      ['x\r\n', 'invalid chunk size'],
      ['5\r\nhelloX', 'chunk data longer than its size'],
      ['5\r\nhello\rX', 'chunk data not followed by CRLF'],
      ['5\nhello', 'invalid chunk size'],
      ['5\rhello', 'chunk size line not ended by CRLF'],
      ['5;\r\n', 'invalid chunk extension'],
      ['5;a=\r\n', 'invalid chunk extension value'],
      ['5;a="\x01"\r\n', 'invalid chunk extension value'],
      ['5;a b\r\n', 'invalid chunk extension'],
      ['0\r\n:x\r\n\r\n', 'invalid trailer field'],
      ['0\r\nX Y: 1\r\n\r\n', 'invalid trailer field name'],
      ['0\r\nX: a\x00\r\n\r\n', 'invalid byte in a trailer field'],
      ['0\r\nX: a\rb\r\n\r\n', 'bare CR in a trailer field'],
      ['0\r\n\rX', 'chunked body not ended by CRLF'],
    ];
    for (const [text, message] of cases) expect(same(text).error, JSON.stringify(text)).toBe(message);
  });
});

// ---------------------------------------------------------------- the readers across cuts

describe('RequestReader across cuts', () => {
  const pipelined =
    'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
    '\r\n' + // a stray CRLF between requests is allowed (RFC 9112 §2.2)
    'PUT /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n' +
    'GET /c?q HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Pad:  v  \r\n\r\n';

  it('reads the same three requests, heads and bodies, from every cut and either next() timing', () => {
    const b = Buffer.from(pipelined, 'latin1');
    const whole = readRequests([b], 'in-event', REQUEST_LIMITS);
    expect(whole.error).toBeUndefined();
    expect(whole.requests.map((r) => [r.method, r.target, Buffer.concat(r.body).toString(), r.complete])).toEqual([
      ['POST', '/a', 'hello', true],
      ['PUT', '/b', 'abcde', true],
      ['GET', '/c?q', '', true],
    ]);
    expect(whole.requests[2]!.values).toEqual(['a', '', 'v']);
    const expected = requestFingerprint(whole);
    for (const p of cuts(b)) {
      expect(requestFingerprint(readRequests(p, 'in-event', REQUEST_LIMITS)), `cut ${p.length}`).toBe(expected);
      expect(requestFingerprint(readRequests(p, 'after-push', REQUEST_LIMITS)), `cut ${p.length}`).toBe(expected);
    }
  });

  it('parses nothing after a request until next(), and nothing after a refused one', () => {
    const events: string[] = [];
    const reader: RequestReader = new RequestReader(
      {
        onRequestHead: (h) => events.push(`head ${h.target}`),
        onRequestBody: () => events.push('body'),
        onRequestEnd: () => events.push('end'),
        onRequestError: (e: BadRequestError) => events.push(`error ${e.status}`),
      },
      REQUEST_LIMITS,
    );
    reader.push(Buffer.from('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nX : y\r\n\r\nGET /4 HTTP/1.1\r\n\r\n'));
    expect(events).toEqual(['head /1', 'end']);
    expect(reader.waiting).toBe(true);
    expect(reader.pendingBytes).toBeGreaterThan(0);
    reader.next();
    expect(events).toEqual(['head /1', 'end', 'head /2', 'end']);
    reader.next();
    expect(events).toEqual(['head /1', 'end', 'head /2', 'end', 'error 400']);
    expect(reader.failed).toBe(true);
    reader.next();
    reader.push(Buffer.from('GET /5 HTTP/1.1\r\n\r\n'));
    expect(events).toHaveLength(5);
  });

  it('answers a head cut short by EOF with 400, and a request cut inside its body not at all', () => {
    const errors: string[] = [];
    const events = { onRequestHead: () => {}, onRequestBody: () => {}, onRequestEnd: () => {}, onRequestError: (e: BadRequestError) => errors.push(e.message) };
    const inHead = new RequestReader(events, REQUEST_LIMITS);
    inHead.push(Buffer.from('GET / HTTP/1.1\r\nHo'));
    inHead.end();
    expect(errors).toEqual(['malformed HTTP request: the connection ended inside the request head']);
    const inBody = new RequestReader(events, REQUEST_LIMITS);
    inBody.push(Buffer.from('POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc'));
    inBody.end();
    expect(errors).toHaveLength(1);
    expect(inBody.midRequest).toBe(true);
  });
});

describe('ResponseReader across cuts', () => {
  type Ex = { head: boolean; text: string };
  function read(exchanges: Ex[], eof: boolean, cutAt = -1, pieces: Buffer[] = []): OurResponses {
    const list = exchanges.map((e, i) => ({ head: e.head, pieces: i === cutAt ? pieces : [Buffer.from(e.text, 'latin1')] }));
    return readResponses(list, eof, RESPONSE_LIMITS);
  }
  /** Ours over every cut of every exchange: one reading, which undici's llhttp completes at least as far. */
  function everyCut(exchanges: Ex[], eof: boolean): OurResponses {
    const whole = read(exchanges, eof);
    const expected = responseFingerprint(whole);
    exchanges.forEach((e, k) => {
      for (const p of cuts(Buffer.from(e.text, 'latin1'))) expect(responseFingerprint(read(exchanges, eof, k, p)), `exchange ${k + 1} cut ${p.length}`).toBe(expected);
    });
    const ll = undiciLlhttp.parse(
      exchanges.map((e) => ({ head: e.head, bytes: Buffer.from(e.text, 'latin1') })),
      eof,
    );
    expect(ll.responses.filter((r) => r.request >= 0 && r.complete).length).toBeGreaterThanOrEqual(whole.responses.filter((r) => r.complete).length);
    return whole;
  }

  it('skips interim answers and reads a chunked body with trailers, then a HEAD answer and a 304, on one connection', () => {
    const r = everyCut(
      [
        { head: false, text: 'HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n0\r\nX-T: 1\r\n\r\n' },
        { head: true, text: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n' },
        { head: false, text: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n' },
      ],
      false,
    );
    expect(r.responses.map((x) => [x.status, Buffer.concat(x.body).toString(), x.complete, x.reusable])).toEqual([
      [200, 'wiki', true, true],
      [200, '', true, true],
      [304, '', true, true],
    ]);
    expect(r.spoiled).toBe(false);
  });

  it('reads a body until close only with EOF, and ends the connection after it', () => {
    const open = everyCut([{ head: false, text: 'HTTP/1.1 200 OK\r\n\r\nuntil close' }], false);
    expect(open.responses[0]!.complete).toBe(false);
    const closed = everyCut([{ head: false, text: 'HTTP/1.1 200 OK\r\n\r\nuntil close' }], true);
    expect(closed.responses[0]!.complete).toBe(true);
    expect(Buffer.concat(closed.responses[0]!.body).toString()).toBe('until close');
    expect(closed.responses[0]!.reusable).toBe(false);
  });

  it('does not reuse a connection with bytes after an answer; a close inside a body is an upstream reset', () => {
    const extra = everyCut([{ head: false, text: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n' }], false);
    expect(extra.responses[0]!.complete).toBe(true);
    expect(extra.spoiled).toBe(true);
    const cut = read([{ head: false, text: 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc' }], true);
    expect(cut.error).toMatchObject({ name: 'UpstreamClosedError', message: 'the upstream closed the connection before the response was complete' });
  });

  it('refuses an answer nobody asked for and a 101 nobody asked for', () => {
    const errors: string[] = [];
    const events = { onResponseHead: () => {}, onResponseBody: () => {}, onResponseEnd: () => {}, onResponseError: (e: Error) => errors.push(e.message) };
    const idle = new ResponseReader(events, RESPONSE_LIMITS.maxHeaderSize, RESPONSE_LIMITS.maxHeaders);
    idle.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    const upgrade = new ResponseReader(events, RESPONSE_LIMITS.maxHeaderSize, RESPONSE_LIMITS.maxHeaders);
    upgrade.expect(false);
    upgrade.push(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'));
    expect(errors).toEqual(['the upstream sent bytes with no request outstanding', 'the upstream switched protocols (101) without being asked']);
  });
});
