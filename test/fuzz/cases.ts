// The named adversarial cases of issue 7, as data: raw request bytes and what the proxy must answer. Each
// family is generated from lists so one idea (say, a control byte inside a header) is tried in every place
// it can appear, not once.

export interface Expectation {
  /** Acceptable statuses of the (last) response. */
  readonly status: readonly number[];
  /** The proxy must close the connection after answering. */
  readonly closed?: boolean;
  /** Expected `x-lattice-proxy-error` code; `null` = the answer must come from upstream (no proxy error). */
  readonly code?: string | null;
  /** A regular expression the body must match. */
  readonly body?: RegExp;
}

export interface NamedCase {
  readonly group: string;
  readonly name: string;
  readonly bytes: Buffer;
  readonly expect: Expectation;
}

export interface CaseHosts {
  /** an allowed host whose Lattice service lets this caller in (→ 200 from the demo app) */
  readonly allowed: string;
  /** allowed by the allowlist, but no service of that name exists at the emulated Lattice (→ its 404) */
  readonly allowedUnknown: string;
}

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Marker placed in the path of every request that must never reach upstream (checked in the Lattice log). */
export const SMUGGLED = '/smuggled-';

export function namedCases(h: CaseHosts): NamedCase[] {
  const out: NamedCase[] = [];
  const H = h.allowed;
  const add = (group: string, name: string, bytes: string | Buffer, expect: Expectation): void => {
    out.push({ group, name, bytes: typeof bytes === 'string' ? B(bytes) : bytes, expect });
  };
  // Every answer of the proxy carries its code (docs/errors.md), the parser's 400s and 431s included.
  const bad = { status: [400], closed: true, code: 'ERR_BAD_REQUEST' } as const;
  const tooLarge = { status: [431], closed: true, code: 'ERR_HEADERS_TOO_LARGE' } as const;
  const upstreamOk = { status: [200], code: null, body: /Hello from/ } as const;
  const notAllowed = { status: [403], code: 'ERR_TARGET_NOT_ALLOWED', body: /not in the allowed hosts/ } as const;
  const get = (target: string, headers = `Host: ${H}\r\n`): string => `GET ${target} HTTP/1.1\r\n${headers}\r\n`;

  // --- malformed request lines -------------------------------------------------------------------------
  const requestLines = [
    'GET',
    'GET /',
    'GET / HTTP/1.1 extra',
    'GET / HTTP/1.',
    'GET / HTTP/',
    'GET / HTTPS/1.1',
    'GET / http/1.1',
    'GET / HTTP/1.1x',
    'GET / HTTP/11',
    'GET / HTTP/1.1\t',
    'G@T / HTTP/1.1',
    'get / HTTP/1.1',
    'FOO / HTTP/1.1',
    'GETT / HTTP/1.1',
    ' GET / HTTP/1.1',
    'GET\t/\tHTTP/1.1',
    'GET /\x00 HTTP/1.1',
    'GET /a b HTTP/1.1',
    'GET /\x7f HTTP/1.1',
    'GET /\r HTTP/1.1',
    '\x00\x01\x02\x03',
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
    'PRI * HTTP/2.0',
    'GET / HTTP/1.1 HTTP/1.1',
    '/ HTTP/1.1',
    'HTTP/1.1 200 OK',
  ];
  for (const [i, line] of requestLines.entries()) {
    // 'GET /' alone is an HTTP/0.9 request line; llhttp reads the headers after it and the request is an
    // ordinary (signed) one. Everything else is refused.
    add('request-line', `line-${i}`, `${line}\r\nHost: ${H}\r\n\r\n`, line === 'GET /' ? { status: [200, 400] } : bad);
  }
  add('request-line', 'bare-lf', `GET / HTTP/1.1\nHost: ${H}\n\n`, bad);
  add('request-line', 'bare-cr', `GET / HTTP/1.1\rHost: ${H}\r\r`, bad);
  add('request-line', 'asterisk-form', `OPTIONS * HTTP/1.1\r\nHost: ${H}\r\n\r\n`, { status: [400], code: 'ERR_BAD_REQUEST' });
  add('request-line', 'authority-form-get', `GET ${H}:443 HTTP/1.1\r\nHost: ${H}\r\n\r\n`, bad);

  // --- invalid header names and values, CR/LF injection ----------------------------------------------------
  const ctl: number[] = [];
  for (let c = 0; c < 0x20; c++) if (c !== 0x09) ctl.push(c);
  ctl.push(0x7f);
  for (const c of ctl) {
    const ch = String.fromCharCode(c);
    const x = c.toString(16).padStart(2, '0');
    add('header-syntax', `name-ctl-${x}`, get('/', `Host: ${H}\r\nX-A${ch}B: v\r\n`), bad);
    if (c !== 0x0a && c !== 0x0d) {
      add('header-syntax', `value-ctl-${x}`, get('/', `Host: ${H}\r\nX-A: a${ch}b\r\n`), bad);
      add('header-syntax', `host-ctl-${x}`, get('/', `Host: ${H}${ch}evil.com\r\n`), bad);
      add('header-syntax', `path-ctl-${x}`, get(`/a${ch}b`), bad);
    }
  }
  const separators = ' "(),/:;<=>?@[\\]{}';
  for (const s of separators) {
    if (s === ':') continue;
    add('header-syntax', `name-sep-${s.charCodeAt(0).toString(16)}`, get('/', `Host: ${H}\r\nX${s}A: v\r\n`), bad);
  }
  add('header-syntax', 'cr-in-value', get('/', `Host: ${H}\r\nX-A: a\rInjected: 1\r\n`), bad);
  add('header-syntax', 'lf-in-value', get('/', `Host: ${H}\r\nX-A: a\nInjected: 1\r\n`), bad);
  add('header-syntax', 'cr-in-host', get('/', `Host: ${H}\rX-Injected: 1\r\n`), bad);
  add('header-syntax', 'lf-in-host', get('/', `Host: evil.com\nHost: ${H}\r\n`), bad);
  add('header-syntax', 'obs-fold', get('/', `Host: ${H}\r\nX-A: a\r\n b\r\n`), bad);
  add('header-syntax', 'obs-fold-host', get('/', `Host: evil.com\r\n ${H}\r\n`), bad);
  add('header-syntax', 'space-before-colon', get('/', `Host: ${H}\r\nX-A : v\r\n`), bad);
  add('header-syntax', 'space-before-colon-host', get('/', `Host : ${H}\r\n`), bad);
  add('header-syntax', 'empty-name', get('/', `Host: ${H}\r\n: v\r\n`), bad);
  add('header-syntax', 'no-colon', get('/', `Host: ${H}\r\nX-A\r\n`), bad);
  add('header-syntax', 'leading-space-line', get('/', ` Host: ${H}\r\n`), bad);
  add('header-syntax', 'crlf-injected-request', get('/', `Host: ${H}\r\nX-A: a\r\rGET ${SMUGGLED}cr HTTP/1.1\r\n`), bad);
  // Obsolete text (0x80-0xff) and tabs are legal in values: forwarded, signed, verified.
  add('header-syntax', 'obs-text-value', get('/', `Host: ${H}\r\nX-A: caf\xe9 \xff\xfe\r\n`), upstreamOk);
  // ... except 0x80-0x9F (C1 controls once decoded as latin1): SigV4 implementations canonicalise them
  // differently (botocore strips U+0085 as white space, smithy does not), so the signature would depend on the
  // verifier. Refused.
  for (const c of [0x80, 0x85, 0x8d, 0x9f]) add('header-syntax', `value-c1-${c.toString(16)}`, get('/', `Host: ${H}\r\nX-A: a${String.fromCharCode(c)}b\r\n`), bad);
  // 0xA0 is white space to SigV4 implementations (JS \s): signer and verifier must canonicalise it alike.
  add('header-syntax', 'nbsp-value', get('/', `Host: ${H}\r\nX-A: \xa0a\xa0\xa0b \xa0c\xa0\r\n`), upstreamOk);
  add('header-syntax', 'tab-value', get('/', `Host: ${H}\r\nX-A: \ta\tb\t\r\n`), upstreamOk);
  add('header-syntax', 'forged-amz-headers', get('/', `Host: ${H}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAFAKE/x\r\nX-Amz-Security-Token: forged\r\nX-Amz-Date: 20000101T000000Z\r\nX-Amz-Content-Sha256: 00\r\n`), upstreamOk);
  add('header-syntax', 'connection-nominates-host', get('/', `Host: ${H}\r\nConnection: host, content-length, x-amz-date\r\n`), upstreamOk);

  // --- oversized header blocks -------------------------------------------------------------------------
  for (const size of [17_000, 32_768, 65_536, 262_144]) {
    add('oversized', `one-header-${size}`, get('/', `Host: ${H}\r\nX-Big: ${'a'.repeat(size)}\r\n`), tooLarge);
    add('oversized', `path-${size}`, get('/' + 'p'.repeat(size)), tooLarge);
    add('oversized', `query-${size}`, get('/?q=' + 'q'.repeat(size)), tooLarge);
    const n = Math.ceil(size / 200);
    add('oversized', `many-values-${size}`, get('/', `Host: ${H}\r\n` + Array.from({ length: n }, (_, i) => `X-${i}: ${'v'.repeat(200)}\r\n`).join('')), tooLarge);
  }
  for (const count of [101, 150, 999, 1001, 3000]) {
    add('oversized', `header-count-${count}`, get('/', `Host: ${H}\r\n` + Array.from({ length: count }, (_, i) => `X-${i}: v\r\n`).join('')), { status: [431], code: 'ERR_HEADERS_TOO_LARGE' });
  }
  add('oversized', 'header-count-100-ok', get('/', `Host: ${H}\r\n` + Array.from({ length: 99 }, (_, i) => `X-${i}: v\r\n`).join('')), upstreamOk);

  // --- request smuggling: Content-Length / Transfer-Encoding -----------------------------------------------
  const tail = `GET ${SMUGGLED}tail HTTP/1.1\r\nHost: ${H}\r\n\r\n`;
  const post = (headers: string, body: string): string => `POST /framing HTTP/1.1\r\nHost: ${H}\r\n${headers}\r\n${body}`;
  add('framing', 'cl-te', post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n' + tail), bad);
  add('framing', 'te-cl', post('Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', '5c\r\n' + tail + '\r\n0\r\n\r\n'), bad);
  add('framing', 'cl-te-zero', post('Content-Length: 0\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n' + tail), bad);
  const badLengths = ['4, 4', '4,5', '-1', '+4', '0x4', '4.0', '4 4', '', ' ', 'a', '1e1', '99999999999999999999', '４', '4\x00', '\t4x'];
  for (const [i, v] of badLengths.entries()) add('framing', `cl-invalid-${i}`, post(`Content-Length: ${v}\r\n`, 'abcd' + tail), bad);
  add('framing', 'cl-duplicate-same', post('Content-Length: 4\r\nContent-Length: 4\r\n', 'abcd' + tail), bad);
  add('framing', 'cl-duplicate-conflict', post('Content-Length: 4\r\nContent-Length: 40\r\n', 'abcd' + tail), bad);
  add('framing', 'cl-duplicate-zero', post('Content-Length: 0\r\nContent-Length: 60\r\n', tail), bad);
  const badTe = ['xchunked', 'chunked, gzip', 'gzip', 'chunked;q=1', 'chunk', 'identity', '"chunked"', 'chunked\x0b'];
  for (const [i, v] of badTe.entries()) add('framing', `te-invalid-${i}`, post(`Transfer-Encoding: ${v}\r\n`, '0\r\n\r\n' + tail), bad);
  add('framing', 'te-duplicate', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n' + tail), bad);
  add('framing', 'te-space-before-colon', post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n' + tail), bad);
  add('framing', 'te-in-http10', `POST /framing HTTP/1.0\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n` + tail, bad);
  // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing, even alone.
  add('framing', 'te-only-in-http10', `POST ${SMUGGLED}te10 HTTP/1.0\r\nHost: ${H}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n` + tail, bad);
  // A coding before chunked cannot be kept by de-chunking: refused, never forwarded as a plain body.
  for (const te of ['gzip, chunked', 'deflate, chunked', 'compress,chunked']) {
    add('framing', `te-coding-then-chunked-${te.split(',')[0]}`, `POST ${SMUGGLED}te-coding HTTP/1.1\r\nHost: ${H}\r\nTransfer-Encoding: ${te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, {
      status: [501],
      closed: true,
      code: 'ERR_UNSUPPORTED_TRANSFER_CODING',
    });
  }
  const badChunks = ['zz', '-1', '0x3', 'fffffffffffffffffff', ' 3', '3 3', '3\x00', '+3', '1_0', '', 'g'];
  for (const [i, v] of badChunks.entries()) add('framing', `chunk-size-${i}`, post('Transfer-Encoding: chunked\r\n', `${v}\r\nabc\r\n0\r\n\r\n` + tail), bad);
  add('framing', 'chunk-data-too-long', post('Transfer-Encoding: chunked\r\n', '3\r\nabcdef\r\n0\r\n\r\n' + tail), bad);
  add('framing', 'chunk-data-too-short', post('Transfer-Encoding: chunked\r\n', '6\r\nabc\r\n0\r\n\r\n' + tail), bad);
  add('framing', 'chunk-missing-crlf', post('Transfer-Encoding: chunked\r\n', '3\r\nabc0\r\n\r\n' + tail), bad);
  add('framing', 'chunk-bare-lf', post('Transfer-Encoding: chunked\r\n', '3\nabc\n0\n\n' + tail), bad);
  add('framing', 'chunk-bad-trailer', post('Transfer-Encoding: chunked\r\n', '3\r\nabc\r\n0\r\nBad Trailer\r\n\r\n' + tail), bad);
  add('framing', 'chunk-valid', post('Transfer-Encoding: chunked\r\n', '3\r\nabc\r\n0\r\n\r\n'), upstreamOk);
  add('framing', 'cl-valid', post('Content-Length: 4\r\n', 'abcd'), upstreamOk);
  // Leading zeros: what is signed must be what goes on the wire (signed as 4, sent as 4).
  add('framing', 'cl-leading-zeros', post('Content-Length: 004\r\n', 'abcd'), upstreamOk);
  // Content-Length: 0 on methods without a body: undici does not send it, so it must not be signed either.
  // (HEAD is left out only because the raw client cannot tell a HEAD answer's missing body from a cut one.)
  for (const m of ['GET', 'OPTIONS', 'DELETE', 'POST', 'PUT', 'PATCH']) {
    for (const v of ['0', '00']) {
      add('framing', `cl-zero-${m}-${v}`, `${m} /cl0 HTTP/1.1\r\nHost: ${H}\r\nContent-Length: ${v}\r\n\r\n`, upstreamOk);
    }
  }

  // --- Host: missing, duplicated, user info, IP literals, look-alikes ---------------------------------------
  add('host', 'missing-http11', 'GET / HTTP/1.1\r\n\r\n', { status: [400], code: 'ERR_BAD_REQUEST' });
  add('host', 'missing-http10', 'GET / HTTP/1.0\r\n\r\n', { status: [400], code: 'ERR_BAD_REQUEST', body: /no Host/ });
  add('host', 'empty', get('/', 'Host: \r\n'), { status: [400], code: 'ERR_BAD_REQUEST' });
  add('host', 'duplicate-same', get('/', `Host: ${H}\r\nHost: ${H}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST', body: /more than one Host/ });
  add('host', 'duplicate-evil-second', get('/', `Host: ${H}\r\nHost: evil.com\r\n`), { status: [400], code: 'ERR_BAD_REQUEST' });
  add('host', 'duplicate-evil-first', get('/', `Host: evil.com\r\nHost: ${H}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST' });
  add('host', 'duplicate-case', get('/', `Host: ${H}\r\nhOsT: 169.254.169.254\r\n`), { status: [400], code: 'ERR_BAD_REQUEST' });
  for (const ui of ['user', 'user:pass', 'a@b', '', ':']) add('host', `userinfo-${ui}`, get('/', `Host: ${ui}@${H}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST', body: /user information/ });
  const deniedHosts = [
    '127.0.0.1', '127.0.0.1:443', '0.0.0.0', '10.0.0.1', '169.254.169.254', '169.254.170.2', '169.254.170.23', '169.254.171.1',
    '[::1]', '[::1]:443', '[fd00:ec2::254]', '[::ffff:169.254.169.254]', '[::]',
    'evil.com', 'example.com', 'com', 'on.aws', 'aws', `${H}.evil.com`, `${H}.on.aws.evil.com`, `evil-${H.split('.').slice(-2).join('.')}`,
    'example.com.evil', 'localhost', 'kubernetes.default.svc', 'metadata.google.internal', 'xn--e1afmkfd.com',
    // Under on.aws but not Lattice's names in the signing region: the default allowlist no longer covers them.
    'abc.lambda-url.us-west-2.on.aws', 'x.on.aws', 'svc-1.abc.vpc-lattice-svcs.eu-west-1.on.aws', 'vpc-lattice-svcs.us-west-2.on.aws',
  ];
  for (const d of deniedHosts) add('host', `denied-${d}`, get('/', `Host: ${d}\r\n`), notAllowed);
  const invalidHosts = [
    '.example.com', `${H}..`, `${H}:`, `${H}:99999`, `${H}:0`, `${H}:-1`, `${H}:443:443`, `${H}:80a`, `evil.com#.${H}`, `evil.com/.${H}`,
    `evil.com\\.${H}`, `evil.com?.${H}`, `evil.com%2f.${H}`, `[${H}]`, '[::1', '[not-ip]', '[::1]x', 'exa mple.com',
  ];
  for (const d of invalidHosts) add('host', `invalid-${d}`, get('/', `Host: ${d}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST' });
  const allowedForms = [H, H.toUpperCase(), `${H}.`, `${H}:80`, `${H}:443`.replace(':443', '')];
  for (const a of allowedForms) add('host', `allowed-${a}`, get('/', `Host: ${a}\r\n`), upstreamOk);
  // Allowed by pattern but no such service: signed and sent (the recording front lets every allowed name
  // through TLS), and the emulated Lattice's own 404 is relayed.
  add('host', 'allowed-unknown', get('/', `Host: ${h.allowedUnknown}\r\n`), { status: [404], code: null, body: /NotFoundException/ });

  // --- absolute-form targets ---------------------------------------------------------------------------
  for (const d of deniedHosts) add('absolute-form', `denied-${d}`, get(`http://${d}/x`, `Host: ${H}\r\n`), notAllowed);
  // HTTP/1.1 requires Host even with an absolute target: Node refuses before the allowlist is consulted.
  add('absolute-form', 'denied-no-host-header', `GET http://evil.com/ HTTP/1.1\r\n\r\n`, { status: [400, 403] });
  add('absolute-form', 'userinfo', get(`http://u:p@${H}/`, `Host: ${H}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST' });
  add('absolute-form', 'userinfo-evil', get(`http://${H}@evil.com/`, `Host: ${H}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST' });
  add('absolute-form', 'https', get(`https://${H}/`, `Host: ${H}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST', body: /plain http/ });
  for (const s of ['ftp', 'file', 'ws', 'gopher']) add('absolute-form', `scheme-${s}`, get(`${s}://${H}/`, `Host: ${H}\r\n`), { status: [400] });
  add('absolute-form', 'allowed', get(`http://${H}/abs`, 'Host: evil.com\r\n'), upstreamOk);
  add('absolute-form', 'allowed-query-only', get(`http://${H}?a=1`, `Host: ${H}\r\n`), upstreamOk);
  // A fragment never belongs on the wire; the strict parser refuses it.
  add('absolute-form', 'fragment', get(`http://${H}#frag`, `Host: ${H}\r\n`), bad);

  // --- CONNECT and upgrades ----------------------------------------------------------------------------
  for (const t of [`${H}:443`, `${H}:80`, 'evil.com:443', '127.0.0.1:22', '169.254.169.254:80', '[::1]:443']) {
    add('connect', `connect-${t}`, `CONNECT ${t} HTTP/1.1\r\nHost: ${t}\r\n\r\n`, {
      status: [405],
      closed: true,
      code: 'ERR_METHOD_NOT_ALLOWED',
      body: /CONNECT is not supported: send plain HTTP requests/,
    });
  }
  add('connect', 'connect-with-tunnel-bytes', `CONNECT ${H}:443 HTTP/1.1\r\nHost: ${H}:443\r\n\r\n\x16\x03\x01\x00\x05hello`, { status: [405], closed: true, code: 'ERR_METHOD_NOT_ALLOWED' });
  add('connect', 'upgrade-websocket', get('/', `Host: ${H}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`), { status: [501], closed: true, code: 'ERR_UPGRADE_NOT_SUPPORTED' });
  add('connect', 'upgrade-h2c', get('/', `Host: ${H}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n`), { status: [501], closed: true });

  // --- dot segments, encodings, long paths and queries (forwarded: must be signed so Lattice verifies) ------
  const paths = [
    '/..', '/../', '/../..', '/a/../../b', '/a/./b/./', '/./', '/%2e%2e/admin', '/%2E%2E/%2e%2E/etc/passwd', '/a/%2e/b', '/a/..%2f..%2fb',
    '/%252e%252e/', '/.%2e/x', '/%2e./x', '//double//slash//', '/a//../b', '/...', '/a/.../b', '/%2F', '/%2f%2f', '/%00', '/%ff%fe%fd',
    '/%c0%ae%c0%ae/', '/%e2%80%ae', '/%zz', '/%', '/%4', '/a%20b', '/a+b', '/~user', '/;jsessionid=1', '/a;b=c/d', '/\\..\\', '/a:b@c',
    '/?', '/??', '/?a', '/?a=', '/?=a', '/?a=1&a=0&b', '/?a=%ff&b=%zz&c=%', '/?a+b=c+d', '/?a=1&&&b=2', '/?%00=%00',
    '/?b=2&a=1&A=3&a=0', '/?x=' + '%41'.repeat(300), '/?sig=%2B%2F%3D', "/!$&'()*,;=:@", '/' + 'seg/'.repeat(1000),
    '/?' + Array.from({ length: 700 }, (_, i) => `k${i % 97}=${i}`).join('&'), '/' + 'x'.repeat(8000), '/?' + 'q'.repeat(8000),
  ];
  for (const p of paths) add('path', `path-${p.length > 40 ? p.slice(0, 20) + '…' + p.length : p}`, get(p), upstreamOk);
  // A request-target has no fragment (RFC 9112 3.2): refused, not forwarded as %23.
  for (const p of [`${SMUGGLED}frag#x`, `${SMUGGLED}frag?k=v#frag`, `${SMUGGLED}frag#`]) add('path', `fragment-${p.slice(SMUGGLED.length)}`, get(p), { status: [400], code: 'ERR_BAD_REQUEST' });

  // --- bytes that are not UTF-8 --------------------------------------------------------------------------
  for (const bytes of ['\xff', '\xc3\x28', '\xe2\x28\xa1', '\xf0\x28\x8c\xbc', '\xc0\xaf', '\xed\xa0\x80', '\x80', '\xfe\xff']) {
    const x = Buffer.from(bytes, 'latin1').toString('hex');
    // Raw bytes >= 0x80 are not allowed in a request target (RFC 9112): Node's strict parser refuses them.
    add('non-utf8', `path-${x}`, get(`/a${bytes}b`), bad);
    add('non-utf8', `query-${x}`, get(`/?a=${bytes}`), bad);
    // Forwarded and verified, unless a byte is a C1 control (0x80-0x9F), refused (see value-c1 above).
    const c1 = [...Buffer.from(bytes, 'latin1')].some((b) => b >= 0x80 && b <= 0x9f);
    add('non-utf8', `value-${x}`, get('/', `Host: ${H}\r\nX-Raw: ${bytes}\r\n`), c1 ? bad : upstreamOk);
    add('non-utf8', `host-${x}`, get('/', `Host: a${bytes}.${H}\r\n`), { status: [400], code: 'ERR_BAD_REQUEST' });
    add('non-utf8', `name-${x}`, get('/', `Host: ${H}\r\nX${bytes}: v\r\n`), bad);
    add('non-utf8', `method-${x}`, `G${bytes}T / HTTP/1.1\r\nHost: ${H}\r\n\r\n`, bad);
  }
  return out;
}

/**
 * Variants multiply every named case: the same bytes written at once, byte by byte, and in odd-sized pieces
 * (the parser must not depend on where reads split), and after a valid request on the same connection
 * (pipelined: the bad request must still be refused and the connection closed).
 */
export interface Variant {
  readonly name: string;
  readonly chunkSize: number;
  readonly pipelinedAfterValid: boolean;
}

export const VARIANTS: readonly Variant[] = [
  { name: 'whole', chunkSize: 0, pipelinedAfterValid: false },
  { name: 'bytewise', chunkSize: 1, pipelinedAfterValid: false },
  { name: 'pieces-7', chunkSize: 7, pipelinedAfterValid: false },
  { name: 'pieces-1000', chunkSize: 1000, pipelinedAfterValid: false },
  { name: 'pipelined', chunkSize: 0, pipelinedAfterValid: true },
  { name: 'pipelined-pieces-13', chunkSize: 13, pipelinedAfterValid: true },
];
