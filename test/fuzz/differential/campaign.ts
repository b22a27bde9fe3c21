// The differential run: for each case, the stream (swept, generated or mutated), llhttp's reading of it, ours
// of the whole stream and of other cuttings of it, the verdict, and the tally. Case k of a run seeded S is a
// pure function of (S, k): a failure replays alone.

import { MAX_REQUEST_HEADERS } from '../../../proxy/src/app-connection.js';
import { compareRequests, compareResponses, reasonKey, requestFingerprint, responseFingerprint, type Verdict } from './compare.js';
import { mutate } from './mutator.js';
import { NodeRequestOracle, type LlhttpRequests } from './node-llhttp.js';
import { readRequests, readResponses, type Limits, type NextMode, type OurRequests, type OurResponses, type ResponseExchange } from './ours.js';
import { caseRandom, chance, type Rand, split } from './random.js';
import { type Failure, type Origin, Tally } from './report.js';
import { requestSweep, requestSweepSize, smugglingShape, wellFormed, type Stream } from './request-streams.js';
import { responseCase, responseSweep, responseSweepSize, type ResponseCase } from './response-streams.js';
import { UndiciResponseOracle, type LlhttpResponses } from './undici-llhttp.js';

/** proxy/src/config.ts MAX_HEADER_SIZE's default, which the proxy also gave node:http; proxy/src/app-connection.ts's header count. */
export const REQUEST_LIMITS: Limits = { maxHeaderSize: 16_384, maxHeaders: MAX_REQUEST_HEADERS };
/** proxy/src/upstream.ts: max(MAX_HEADER_SIZE, 64 KiB); proxy/src/upstream-connection.ts: 256 response header lines. */
export const RESPONSE_LIMITS: Limits = { maxHeaderSize: 64 * 1024, maxHeaders: 256 };

/** Other cuttings of each stream fed to our reader, besides the whole stream. */
const CUTTINGS = 2;
const MAX_PIECES = 12;

export interface RequestCase {
  readonly origin: Origin;
  readonly stream: Stream;
  readonly bytes: Buffer;
  readonly rand: Rand;
}

/** Case `index` of a request run: the sweep first (when included), then generated and mutated streams. */
export function requestCase(seed: number, index: number, sweep: boolean): RequestCase {
  const r = caseRandom(seed, index);
  const sweepSize = sweep ? requestSweepSize() : 0;
  let origin: Origin;
  let stream: Stream;
  if (index < sweepSize) {
    origin = 'sweep';
    stream = requestSweep(index, r);
  } else if (chance(r, 0.35)) {
    origin = 'mutated';
    const base = chance(r, 0.5) ? wellFormed(r) : smugglingShape(r);
    stream = { family: `mutated ${base.family}`, text: mutate(r, base.text) };
  } else {
    origin = 'generated';
    stream = chance(r, 0.55) ? wellFormed(r) : smugglingShape(r);
  }
  return { origin, stream, bytes: Buffer.from(stream.text, 'latin1'), rand: r };
}

export interface RequestResult {
  readonly oracle: LlhttpRequests;
  readonly whole: OurRequests;
  readonly verdict: Verdict;
  readonly problems: string[];
  readonly messageVariance: boolean;
  readonly cuttings: number;
}

/**
 * Our reader over CUTTINGS other cuttings of the stream (`cutOnce` makes one and reads it): the same reading
 * as the whole stream (fingerprint), or a problem naming the cut. Whether the refusal's message changed is
 * counted, not failed.
 */
function checkCuttings(whole: string, wholeMessage: string | undefined, cutOnce: () => { fp: string; message: string | undefined; cut: string }): { problem?: string; messageVariance: boolean } {
  let messageVariance = false;
  for (let k = 0; k < CUTTINGS; k++) {
    const c = cutOnce();
    if (c.fp !== whole) {
      const indent = (t: string): string => t.replace(/\n/g, '\n             ');
      return { problem: `self-consistency: ${c.cut}, read differently from the whole stream:\n      whole: ${indent(whole)}\n      cut:   ${indent(c.fp)}`, messageVariance };
    }
    if (c.message !== wholeMessage) messageVariance = true;
  }
  return { messageVariance };
}

export function runRequestCase(c: RequestCase, oracle: NodeRequestOracle): RequestResult {
  const ll = oracle.parse(c.bytes);
  const whole = readRequests([c.bytes], 'in-event', REQUEST_LIMITS);
  const verdict = compareRequests(whole, ll);
  const problems = [...verdict.failures];
  const checked = checkCuttings(requestFingerprint(whole), whole.error?.message, () => {
    const pieces = split(c.rand, c.bytes, MAX_PIECES);
    const mode: NextMode = chance(c.rand, 0.5) ? 'in-event' : 'after-push';
    const cut = readRequests(pieces, mode, REQUEST_LIMITS);
    return { fp: requestFingerprint(cut), message: cut.error?.message, cut: `${pieces.length} pieces (${pieces.map((p) => p.length).join('+')}), next() ${mode}` };
  });
  if (checked.problem !== undefined) problems.push(checked.problem);
  return { oracle: ll, whole, verdict, problems, messageVariance: checked.messageVariance, cuttings: CUTTINGS };
}

export interface ResponseResult {
  readonly oracle: LlhttpResponses;
  readonly whole: OurResponses;
  readonly verdict: Verdict;
  readonly problems: string[];
  readonly messageVariance: boolean;
  readonly cuttings: number;
}

export function runResponseCase(c: ResponseCase, oracle: UndiciResponseOracle, r: Rand): ResponseResult {
  const ll = oracle.parse(c.exchanges, c.eof);
  const asWhole: ResponseExchange[] = c.exchanges.map((e) => ({ head: e.head, pieces: [e.bytes] }));
  const whole = readResponses(asWhole, c.eof, RESPONSE_LIMITS);
  const verdict = compareResponses(whole, ll);
  const problems = [...verdict.failures];
  const checked = checkCuttings(responseFingerprint(whole), whole.error?.message, () => {
    const exchanges = c.exchanges.map((e) => ({ head: e.head, pieces: split(r, e.bytes, MAX_PIECES) }));
    const cut = readResponses(exchanges, c.eof, RESPONSE_LIMITS);
    return { fp: responseFingerprint(cut), message: cut.error?.message, cut: `cut as ${exchanges.map((e) => e.pieces.map((p) => p.length).join('+')).join(' | ')}` };
  });
  if (checked.problem !== undefined) problems.push(checked.problem);
  return { oracle: ll, whole, verdict, problems, messageVariance: checked.messageVariance, cuttings: CUTTINGS };
}

/** One case, run: what the tally needs. */
interface Ran {
  readonly origin: Origin;
  readonly family: string;
  readonly verdict: Verdict;
  readonly problems: string[];
  readonly messageVariance: boolean;
  readonly cuttings: number;
  readonly streams: Failure['streams'];
  readonly eof?: boolean;
}

export interface RunOptions {
  readonly seed: number;
  readonly count: number;
  /** Include the deterministic sweep of every named shape (its cases count towards `count`). */
  readonly sweep: boolean;
  /** Stop early (counted as not run) once this much time has passed. */
  readonly deadline?: number;
}

/**
 * Run cases 0..count-1 with no stack traces captured: most streams are refused, and capturing a stack for
 * each of our named errors is most of what a refusal costs (a failure's replay, scripts/fuzz.ts --replay, has
 * them back).
 */
function runCases(side: 'request' | 'response', o: RunOptions, one: (index: number) => Ran): Tally {
  const t = new Tally(side);
  t.planned = o.count;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (let i = 0; i < o.count; i++) {
      if (o.deadline !== undefined && (i & 255) === 0 && performance.now() > o.deadline) break;
      const c = one(i);
      const v = c.verdict;
      t.ran++;
      t.bytes += c.streams.reduce((n, s) => n + s.bytes.length, 0);
      t.splitRuns += c.cuttings;
      t.add(t.origins, c.origin);
      t.add(t.categories, c.problems.length > 0 ? 'disagreement' : v.category);
      if (v.category === 'refused by us only' || v.category === 'refused by us, llhttp still reading') t.add(t.refusedByUs, v.reason ?? '?');
      if (v.category === 'refused by both' || v.category === 'refused by llhttp, ours still reading') t.add(t.refusedByBoth, v.oracleCode ?? '?');
      for (const n of v.notes) t.add(t.notes, reasonKey(n));
      if (c.messageVariance) t.messageVariance++;
      if (c.problems.length > 0) t.fail({ side, seed: o.seed, index: i, family: c.family, problems: c.problems, streams: c.streams, eof: c.eof });
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  t.elapsedMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  t.cpuMs = (used.user + used.system) / 1000;
  return t;
}

export function runRequests(o: RunOptions): Tally {
  const oracle = new NodeRequestOracle(REQUEST_LIMITS.maxHeaderSize);
  return runCases('request', o, (i) => {
    const c = requestCase(o.seed, i, o.sweep);
    return { ...runRequestCase(c, oracle), origin: c.origin, family: c.stream.family, streams: [{ bytes: c.bytes }] };
  });
}

export function runResponses(o: RunOptions): Tally {
  const oracle = new UndiciResponseOracle(RESPONSE_LIMITS.maxHeaderSize);
  const sweepSize = o.sweep ? responseSweepSize() : 0;
  return runCases('response', o, (i) => {
    const r = caseRandom(o.seed, i);
    const c = i < sweepSize ? responseSweep(i, r) : responseCase(r);
    return { ...runResponseCase(c, oracle, r), origin: c.origin, family: c.family, streams: c.exchanges, eof: c.eof };
  });
}
