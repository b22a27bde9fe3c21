// The verdict on one stream: ours against llhttp. The rule (issue 11): whenever ours accepts a request, llhttp
// accepts it too and reads the same method, target, version, header list and body bytes, and for a pipelined
// stream the same sequence up to where ours stops. Ours refusing what llhttp accepts is allowed (counted by
// reason); ours accepting what llhttp refuses, or reading it differently, is a failure. Responses likewise,
// against undici's llhttp.
//
// Normalised before comparing, and only where the two are provably the same message:
// - header names compared case-insensitively (RFC 9110 §5.1);
// - a Content-Length with leading zeros: ours forwards the number (`007` → `7`), llhttp reports the digits;
// - response values: undici's llhttp build hands over trailing OWS, which is not part of a field value
//   (RFC 9110 §5.5) and which node:http's binding strips (node_http_parser.cc ToTrimmedString) — the request
//   oracle already delivers values that way.

import type { LlhttpRequests } from './node-llhttp.js';
import type { OurRequests, OurResponses } from './ours.js';
import type { LlhttpResponse, LlhttpResponses } from './undici-llhttp.js';

export type Category =
  /** Ours accepted what llhttp refused, or read it differently: the run fails. */
  | 'disagreement'
  /** Every request ours read is accepted by llhttp and read the same way. */
  | 'accepted by both'
  /** Ours refused (an error, or the app connection's CONNECT/upgrade refusal) where llhttp accepted. */
  | 'refused by us only'
  /** Ours refused where llhttp had not decided yet (it needed more bytes). */
  | 'refused by us, llhttp still reading'
  | 'refused by both'
  /** The stream ends inside a request both are still reading. */
  | 'incomplete in both'
  /** llhttp refused; ours accepted nothing there and waits for more bytes (the head or body timeout answers). */
  | 'refused by llhttp, ours still reading'
  /** Nothing but empty lines. */
  | 'empty';

export interface Verdict {
  readonly category: Category;
  /** Ours' refusal (normalised for counting) or llhttp's error code. */
  readonly reason: string | undefined;
  readonly oracleCode: string | undefined;
  /** Non-empty: the run fails. */
  readonly failures: string[];
  /** Differences that are policy, not parsing (reported, never failing). */
  readonly notes: string[];
}

/** Our refusal messages with the case-specific parts (bytes, numbers, quoted values) taken out, for counting. */
export function reasonKey(message: string): string {
  return message
    .replace(/^malformed HTTP request: /, '')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/0x[0-9a-f]{2}/g, '0x..')
    .replace(/\b\d+\b/g, 'N');
}

function concat(list: readonly Buffer[]): Buffer {
  return list.length === 1 ? list[0]! : Buffer.concat(list);
}

function show(b: Buffer, max = 64): string {
  const s = JSON.stringify(b.subarray(0, max).toString('latin1'));
  return b.length > max ? `${s}… (${b.length} bytes)` : s;
}

/** Digits with leading zeros removed, or undefined when not all digits. */
function decimal(v: string): string | undefined {
  if (!/^[0-9]+$/.test(v)) return undefined;
  const s = v.replace(/^0+(?=.)/, '');
  return s;
}

function valuesEqual(name: string, ours: string, theirs: string): boolean {
  if (ours === theirs) return true;
  if (name === 'content-length') {
    const a = decimal(ours);
    return a !== undefined && a === decimal(theirs);
  }
  return false;
}

function compareFields(what: string, ourNames: readonly string[], ourValues: readonly string[], names: readonly string[], values: readonly string[], failures: string[]): void {
  if (ourNames.length !== names.length) {
    failures.push(`${what}: ours reads ${ourNames.length} header fields, llhttp ${names.length} (ours ${JSON.stringify(ourNames)}, llhttp ${JSON.stringify(names)})`);
    return;
  }
  for (let k = 0; k < names.length; k++) {
    const n = names[k]!.toLowerCase();
    if (ourNames[k] !== n) failures.push(`${what}: header ${k + 1} is ${JSON.stringify(ourNames[k])} for ours, ${JSON.stringify(names[k])} for llhttp`);
    else if (!valuesEqual(n, ourValues[k]!, values[k]!)) failures.push(`${what}: ${n} is ${JSON.stringify(ourValues[k])} for ours, ${JSON.stringify(values[k])} for llhttp`);
  }
}

function compareBodies(what: string, ourBody: Buffer, ourComplete: boolean, body: Buffer, complete: boolean, refused: boolean, failures: string[]): void {
  if (ourComplete) {
    if (!complete) failures.push(`${what}: ours read it to its end; llhttp ${refused ? 'refused it' : 'is still reading it'} (ours' body ${show(ourBody)}, llhttp's so far ${show(body)})`);
    else if (!ourBody.equals(body)) failures.push(`${what}: body differs: ours ${show(ourBody)}, llhttp ${show(body)}`);
  } else if (ourBody.length > body.length || !ourBody.equals(body.subarray(0, ourBody.length))) {
    failures.push(`${what}: ours passed on body bytes llhttp did not: ours ${show(ourBody)}, llhttp ${show(body)}`);
  }
}

function unseen(what: string, error: { code: string; reason: string } | undefined): string {
  return `${what}: ours accepted its head; llhttp ${error ? `refused it (${error.code}: ${error.reason})` : 'never completed it'}`;
}

function compareVersion(what: string, ourMinor: number, o: { major: number; minor: number }, failures: string[]): void {
  if (o.major !== 1 || o.minor !== ourMinor) failures.push(`${what}: HTTP/1.${ourMinor} for ours, HTTP/${o.major}.${o.minor} for llhttp`);
}

export function compareRequests(ours: OurRequests, ll: LlhttpRequests): Verdict {
  const failures: string[] = [];
  if (ours.thrown !== undefined) failures.push(`our reader threw: ${ours.thrown}`);
  const oracleCode = ll.error?.code;
  for (let i = 0; i < ours.requests.length; i++) {
    const our = ours.requests[i]!;
    const what = `request ${i + 1} (${JSON.stringify(`${our.method} ${our.target}`.slice(0, 80))})`;
    if (our.refusedAtHead !== undefined) break; // answered by the proxy, nothing signed or forwarded
    const o = ll.requests[i];
    if (o === undefined) {
      failures.push(unseen(what, ll.error));
      break;
    }
    if (our.method !== o.method) failures.push(`${what}: method ${our.method} for ours, ${o.method} for llhttp`);
    if (our.target !== o.target) failures.push(`${what}: target ${JSON.stringify(our.target)} for ours, ${JSON.stringify(o.target)} for llhttp`);
    compareVersion(what, our.minor, o, failures);
    compareFields(what, our.names, our.values, o.names, o.values, failures);
    if (o.upgrade) failures.push(`${what}: llhttp reads an upgrade (the bytes after it are another protocol); ours forwards it as a plain request`);
    if (our.complete && !our.wantsClose && !o.keepAlive) failures.push(`${what}: ours keeps the connection for another request, llhttp closes it after this one`);
    compareBodies(what, concat(our.body), our.complete, concat(o.body), o.complete, ll.error !== undefined, failures);
    if (failures.length > 0) break;
  }
  const verdict = (category: Category, reason?: string): Verdict => ({ category: failures.length > 0 ? 'disagreement' : category, reason, oracleCode, failures, notes: [] });

  const last = ours.requests[ours.requests.length - 1];
  // The request ours stopped in: its unfinished last one, else the next.
  const j = last !== undefined && !last.complete ? ours.requests.length - 1 : ours.requests.length;
  const o = ll.requests[j];
  if (ours.error !== undefined) {
    const reason = `${ours.error.status} ${reasonKey(ours.error.message)}`;
    if (o?.complete) return verdict('refused by us only', reason);
    if (ll.error !== undefined) return verdict('refused by both', reason);
    return verdict(o !== undefined ? 'refused by us only' : 'refused by us, llhttp still reading', reason);
  }
  if (last?.refusedAtHead !== undefined) return verdict(o === undefined && ll.error !== undefined ? 'refused by both' : 'refused by us only', last.refusedAtHead);
  if (ours.partial) {
    if (o?.complete) return verdict('refused by us only', 'still waiting for bytes of a request llhttp completed');
    if (ll.error !== undefined) return verdict('refused by llhttp, ours still reading', oracleCode);
    return verdict('incomplete in both');
  }
  if (ours.requests.length === 0) return verdict('empty');
  return verdict('accepted by both');
}

function trimTrailingOws(v: string): string {
  let e = v.length;
  while (e > 0 && (v.charCodeAt(e - 1) === 0x20 || v.charCodeAt(e - 1) === 0x09)) e--;
  return v.slice(0, e);
}

export function compareResponses(ours: OurResponses, ll: LlhttpResponses): Verdict {
  const failures: string[] = [];
  const notes: string[] = [];
  if (ours.thrown !== undefined) failures.push(`our reader threw: ${ours.thrown}`);
  const finals: LlhttpResponse[] = ll.responses.filter((r) => r.request >= 0);
  const oracleCode = ll.error?.code;
  for (let i = 0; i < ours.responses.length; i++) {
    const our = ours.responses[i]!;
    const what = `response ${i + 1} (${our.status})`;
    const o = finals[i];
    if (o === undefined) {
      failures.push(unseen(what, ll.error));
      break;
    }
    if (our.status !== o.status) failures.push(`${what}: status ${our.status} for ours, ${o.status} for llhttp`);
    if (our.reason !== o.reason) failures.push(`${what}: reason ${JSON.stringify(our.reason)} for ours, ${JSON.stringify(o.reason)} for llhttp`);
    compareVersion(what, our.minor, o, failures);
    compareFields(what, our.names, our.values, o.names, o.values.map(trimTrailingOws), failures);
    if (our.complete && our.reusable && o.complete && !o.keepAlive) failures.push(`${what}: ours would reuse the connection, llhttp closes it after this response`);
    compareBodies(what, concat(our.body), our.complete, concat(o.body), o.complete, ll.error !== undefined, failures);
    if (failures.length > 0) break;
  }
  const verdict = (category: Category, reason?: string): Verdict => ({ category: failures.length > 0 ? 'disagreement' : category, reason, oracleCode, failures, notes });
  if (ll.policy !== undefined && ours.responses.some((r) => r.complete)) notes.push(ll.policy);

  const last = ours.responses[ours.responses.length - 1];
  const j = last !== undefined && !last.complete ? ours.responses.length - 1 : ours.responses.length;
  const o = finals[j];
  if (ours.error !== undefined) {
    const reason = reasonKey(ours.error.message);
    if (o?.complete) return verdict('refused by us only', reason);
    if (ll.error !== undefined) return verdict('refused by both', reason);
    return verdict(o !== undefined ? 'refused by us only' : 'refused by us, llhttp still reading', reason);
  }
  if (last !== undefined && !last.complete) {
    if (o?.complete) return verdict('refused by us only', 'still waiting for bytes of a response llhttp completed');
    if (ll.error !== undefined) return verdict('refused by llhttp, ours still reading', oracleCode);
    return verdict('incomplete in both');
  }
  if (ours.responses.length === 0) {
    if (ll.error !== undefined) return verdict('refused by llhttp, ours still reading', oracleCode);
    return verdict(o !== undefined ? 'incomplete in both' : 'empty');
  }
  return verdict('accepted by both');
}

/** Ours' reading of a stream as one string: two cuttings of the same bytes must give the same one. */
export function requestFingerprint(r: OurRequests): string {
  const parts: string[] = [];
  for (const q of r.requests) {
    parts.push(`${q.method} ${q.target} 1.${q.minor} ${JSON.stringify(q.names)} ${JSON.stringify(q.values)} ${q.bodyKind}/${q.contentLength} close=${q.wantsClose} ${q.refusedAtHead ?? ''} ${concat(q.body).toString('hex')} ${q.complete}`);
  }
  // The status and code are the verdict; the message may name a different first fault when the head is cut
  // (a bare CR seen before the head's end arrives): compared separately.
  parts.push(r.error ? `error ${r.error.status} ${r.error.code}` : 'no error', `stopped=${r.stopped} partial=${r.partial} thrown=${r.thrown !== undefined}`);
  return parts.join('\n');
}

export function responseFingerprint(r: OurResponses): string {
  const parts: string[] = [];
  for (const q of r.responses) {
    parts.push(`${q.status} ${JSON.stringify(q.reason)} 1.${q.minor} ${JSON.stringify(q.names)} ${JSON.stringify(q.values)} ${q.framing} reuse=${q.reusable} ${concat(q.body).toString('hex')} ${q.complete}`);
  }
  parts.push(r.error ? `error ${r.error.code}` : 'no error', `spoiled=${r.spoiled} answered=${r.answered} thrown=${r.thrown !== undefined}`);
  return parts.join('\n');
}
