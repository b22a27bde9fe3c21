// The proof that the strict HTTP/1.1 parsers are safe (issue 11): a bounded share of the differential fuzzer
// (`npm run fuzz` runs the full count). Request streams against node:http's llhttp, response streams against
// undici's llhttp, each stream also cut at random boundaries. A fixed seed makes the share reproducible; a
// fresh seed each run widens it, printed so that a failure replays (FUZZ_SEED=<seed> npx vitest run
// test/parser-differential.test.ts, or FUZZ_SEED=<seed> npm run fuzz). Also: the oracle reads like a real
// node:http server, and the comparison can fail.

import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareRequests, compareResponses } from './fuzz/differential/compare.js';
import { requestCase, REQUEST_LIMITS, RESPONSE_LIMITS, runRequests, runResponses } from './fuzz/differential/campaign.js';
import { NodeRequestOracle } from './fuzz/differential/node-llhttp.js';
import { readRequests, readResponses } from './fuzz/differential/ours.js';
import { freshSeed } from './fuzz/differential/random.js';
import { describeFailure, formatTally, type Tally } from './fuzz/differential/report.js';
import { requestSweepSize } from './fuzz/differential/request-streams.js';
import { responseSweepSize } from './fuzz/differential/response-streams.js';
import { UndiciResponseOracle } from './fuzz/differential/undici-llhttp.js';

const FIXED_SEED = 0x11d1ff;
const FRESH_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : freshSeed();
const REQUESTS_FIXED = 20_000;
const REQUESTS_FRESH = 12_000;
const RESPONSES_FIXED = 10_000;
const RESPONSES_FRESH = 8_000;

function verdictOf(t: Tally, seed: number): void {
  console.log(formatTally(t, seed));
  // Every case that was planned ran (no time bound here), and none was read differently.
  expect(t.ran).toBe(t.planned);
  expect(t.failureCount, t.failures.slice(0, 5).map(describeFailure).join('\n\n')).toBe(0);
  // A differential run proves something only if its streams reach every verdict: accepted by both (the
  // framing code ran), refused by both (the shapes are hostile), and refused by us alone (the strictness).
  expect(t.categories.get('accepted by both') ?? 0).toBeGreaterThan(t.planned / 20);
  expect(t.categories.get('refused by both') ?? 0).toBeGreaterThan(t.planned / 20);
  expect(t.categories.get('refused by us only') ?? 0).toBeGreaterThan(0);
  expect(t.splitRuns).toBeGreaterThanOrEqual(t.ran);
}

describe('request parser against node:http llhttp', () => {
  it(`fixed seed ${FIXED_SEED}: ${REQUESTS_FIXED} streams (the sweep of every named shape first), none read differently`, () => {
    expect(REQUESTS_FIXED).toBeGreaterThan(requestSweepSize());
    verdictOf(runRequests({ seed: FIXED_SEED, count: REQUESTS_FIXED, sweep: true }), FIXED_SEED);
  });

  it(`fresh seed ${FRESH_SEED} (replay: FUZZ_SEED=${FRESH_SEED}): ${REQUESTS_FRESH} streams, none read differently`, () => {
    console.log(`parser-differential: fresh seed ${FRESH_SEED}; replay with FUZZ_SEED=${FRESH_SEED}`);
    verdictOf(runRequests({ seed: FRESH_SEED, count: REQUESTS_FRESH, sweep: true }), FRESH_SEED);
  });
});

describe('response parser against undici llhttp', () => {
  it(`fixed seed ${FIXED_SEED}: ${RESPONSES_FIXED} streams, none read differently`, () => {
    expect(RESPONSES_FIXED).toBeGreaterThan(responseSweepSize());
    verdictOf(runResponses({ seed: FIXED_SEED, count: RESPONSES_FIXED, sweep: true }), FIXED_SEED);
  });

  it(`fresh seed ${FRESH_SEED}: ${RESPONSES_FRESH} streams, none read differently`, () => {
    verdictOf(runResponses({ seed: FRESH_SEED, count: RESPONSES_FRESH, sweep: true }), FRESH_SEED);
  });
});

describe('the comparison can fail', () => {
  const oracle = new NodeRequestOracle(REQUEST_LIMITS.maxHeaderSize);
  const stream = Buffer.from('POST /p HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1');

  it('agrees on a well-formed pipelined pair', () => {
    const v = compareRequests(readRequests([stream], 'in-event', REQUEST_LIMITS), oracle.parse(stream));
    expect(v.failures).toEqual([]);
    expect(v.category).toBe('accepted by both');
  });

  it('flags a different value, target, body, connection reading, an extra request and an accepted stream llhttp refuses', () => {
    type Ours = ReturnType<typeof readRequests>;
    type Theirs = ReturnType<typeof oracle.parse>;
    const mutants: [string, (o: Ours, ll: Theirs) => void][] = [
      ['value', (o) => (o.requests[0]!.values[1] = '2')],
      ['target', (o) => ((o.requests[1] as { target: string }).target = '/other')],
      ['body', (o) => (o.requests[0]!.body[0] = Buffer.from('hellO'))],
      ['extra request', (o) => o.requests.push({ ...o.requests[1]! })],
      ['keep-alive', (_o, ll) => (ll.requests[0]!.keepAlive = false)],
      ['upgrade', (_o, ll) => (ll.requests[0]!.upgrade = true)],
    ];
    for (const [what, change] of mutants) {
      const ours = readRequests([stream], 'in-event', REQUEST_LIMITS);
      const ll = oracle.parse(stream);
      change(ours, ll);
      expect(compareRequests(ours, ll).failures, what).not.toEqual([]);
    }
    const refused = Buffer.from('GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n', 'latin1');
    const accepted = readRequests([stream], 'in-event', REQUEST_LIMITS);
    expect(compareRequests(accepted, oracle.parse(refused)).category).toBe('disagreement');
  });

  it('flags a response read differently', () => {
    const o = new UndiciResponseOracle(RESPONSE_LIMITS.maxHeaderSize);
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc', 'latin1');
    const ours = readResponses([{ head: false, pieces: [bytes] }], false, RESPONSE_LIMITS);
    const ll = o.parse([{ head: false, bytes }], false);
    expect(compareResponses(ours, ll).category).toBe('accepted by both');
    ours.responses[0]!.body[0] = Buffer.from('abd');
    expect(compareResponses(ours, ll).failures).not.toEqual([]);
  });
});

// The oracle drives llhttp itself; this checks that it reads what a real node:http server reads, for a
// sample of the same streams sent over loopback.
describe('the request oracle reads like http.createServer', () => {
  interface Seen {
    method: string;
    url: string;
    rawHeaders: string[];
    body: Buffer;
  }
  let port = 0;
  const seen = new Map<number, Seen[]>();
  const server = createServer({ maxHeaderSize: REQUEST_LIMITS.maxHeaderSize, requireHostHeader: false }, (req: IncomingMessage, res) => {
    const id = Number(req.socket.remotePort);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const list = seen.get(id) ?? [];
      list.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      seen.set(id, list);
      res.end('ok');
    });
  });
  // Policies on top of the parser, relaxed so that every request llhttp completes is served and seen: an
  // unexpected Expect (417) lets the request through, the app's half-close waits for the answers, and a parse
  // error closes the connection only once the requests before it have been read.
  server.on('checkExpectation', (req, res) => server.emit('request', req, res));
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('clientError', (_err, socket) => setTimeout(() => socket.destroy(), 20));

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  async function send(bytes: Buffer): Promise<Seen[]> {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    const id = socket.localPort!;
    socket.resume();
    socket.end(bytes);
    await once(socket, 'close');
    const list = seen.get(id) ?? [];
    seen.delete(id);
    return list;
  }

  it('300 streams of the fixed seed: same requests, heads and bodies', async () => {
    const oracle = new NodeRequestOracle(REQUEST_LIMITS.maxHeaderSize);
    let compared = 0;
    let requests = 0;
    for (let i = 0; compared < 300; i += 61) {
      const c = requestCase(FIXED_SEED, i, true);
      const ll = oracle.parse(c.bytes);
      // CONNECT and upgrades leave HTTP: the server hands the socket over, it serves no request to compare.
      if (ll.requests.some((r) => r.upgrade)) continue;
      compared++;
      const server = await send(c.bytes);
      // The server serves the requests llhttp completed; one cut short by the end of the stream is not served.
      const complete = ll.requests.filter((r) => r.complete);
      expect(server.length, `case ${i}`).toBe(complete.length);
      complete.forEach((r, k) => {
        const s = server[k]!;
        expect(s.method, `case ${i}`).toBe(r.method);
        expect(s.url, `case ${i}`).toBe(r.target);
        expect(s.rawHeaders, `case ${i}`).toEqual(r.names.flatMap((n, j) => [n, r.values[j]!]));
        expect(s.body.equals(Buffer.concat(r.body)), `case ${i}`).toBe(true);
      });
      requests += complete.length;
    }
    expect(requests).toBeGreaterThan(100);
  });
});
