// Our readers, driven as the proxy drives them, with their events recorded as plain data: RequestReader as
// proxy/src/app-connection.ts drives it (next() after each request's end, nothing read after a request that
// closes the connection), ResponseReader as proxy/src/upstream-connection.ts does (expect() before each
// response, end() at EOF, no reuse after a response that ends the connection's framing).

import { BadRequestError, HeadersTooLargeError, type ProxyError, UnsupportedTransferCodingError } from '../../../proxy/src/errors.js';
import { BodyKind, type RequestHead } from '../../../proxy/src/http1-request-head.js';
import { RequestReader } from '../../../proxy/src/http1-request-reader.js';
import { ResponseBody, type ResponseHead, ResponseProtocolError, UpstreamClosedError } from '../../../proxy/src/http1-response-head.js';
import { ResponseReader } from '../../../proxy/src/http1-response-reader.js';

export interface Limits {
  readonly maxHeaderSize: number;
  readonly maxHeaders: number;
}

export interface OurRequest {
  readonly method: string;
  readonly target: string;
  readonly minor: number;
  readonly names: string[];
  readonly values: string[];
  readonly bodyKind: BodyKind;
  readonly contentLength: number;
  readonly wantsClose: boolean;
  /** The app connection refuses this request at its head: CONNECT (405) or an upgrade (501). */
  readonly refusedAtHead: string | undefined;
  readonly body: Buffer[];
  complete: boolean;
}

export interface OurError {
  readonly name: string;
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

export interface OurRequests {
  readonly requests: OurRequest[];
  error: OurError | undefined;
  /** Something other than the reader's named errors escaped it (always a failure). */
  thrown: string | undefined;
  /** The app connection reads nothing after the last request (Connection: close, HTTP/1.0, CONNECT, upgrade). */
  stopped: boolean;
  /** Bytes were left inside an unfinished request (head or body): the reader waits for more. */
  partial: boolean;
}

/** When next() is called: inside onRequestEnd (a refused request answered at once) or after push() returns (an exchange answered later). */
export type NextMode = 'in-event' | 'after-push';

const REQUEST_ERRORS: ReadonlySet<unknown> = new Set([BadRequestError, HeadersTooLargeError, UnsupportedTransferCodingError]);

/**
 * What proxy/src/app-connection.ts onRequestHead refuses before anything is signed, with the status it
 * answers; both answers close the connection.
 */
export function refusedAtHead(head: RequestHead): string | undefined {
  if (head.method === 'CONNECT') return 'CONNECT (405 at the app connection)';
  if (head.upgrade && head.connection.includes('upgrade')) return 'Upgrade with Connection: upgrade (501 at the app connection)';
  return undefined;
}

function describeThrown(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
}

export function readRequests(pieces: readonly Buffer[], mode: NextMode, limits: Limits): OurRequests {
  const out: OurRequests = { requests: [], error: undefined, thrown: undefined, stopped: false, partial: false };
  let current: OurRequest | undefined;
  let ended = false;
  const reader: RequestReader = new RequestReader(
    {
      onRequestHead(head) {
        const refused = refusedAtHead(head);
        current = {
          method: head.method,
          target: head.target,
          minor: head.minor,
          names: head.names.slice(),
          values: head.values.slice(),
          bodyKind: head.bodyKind,
          contentLength: head.contentLength,
          wantsClose: head.wantsClose,
          refusedAtHead: refused,
          body: [],
          complete: false,
        };
        out.requests.push(current);
        if (refused !== undefined) {
          out.stopped = true;
          reader.stop();
        }
      },
      onRequestBody(buf, start, end) {
        current!.body.push(buf.subarray(start, end));
      },
      onRequestEnd() {
        current!.complete = true;
        if (current!.wantsClose) {
          out.stopped = true;
          reader.stop();
          return;
        }
        if (mode === 'in-event') reader.next();
        else ended = true;
      },
      onRequestError(err: ProxyError) {
        if (!REQUEST_ERRORS.has(err.constructor)) out.thrown = `onRequestError with ${err.name} (not a named parse error): ${err.message}`;
        out.error = { name: err.name, code: err.code, status: err.status, message: err.message };
      },
    },
    limits,
  );
  try {
    for (const piece of pieces) {
      if (out.stopped || out.error !== undefined) break;
      if (piece.length === 0) continue; // a socket never hands over an empty read
      reader.push(piece);
      while (ended && !out.stopped) {
        ended = false;
        reader.next();
      }
    }
  } catch (err) {
    out.thrown = describeThrown(err);
  }
  const last = out.requests[out.requests.length - 1];
  out.partial = out.error === undefined && !out.stopped && (reader.midRequest || reader.pendingBytes > 0 || (last !== undefined && !last.complete));
  return out;
}

export interface OurResponse {
  readonly status: number;
  readonly reason: string;
  readonly minor: number;
  readonly names: string[];
  readonly values: string[];
  readonly framing: ResponseBody;
  readonly reusable: boolean;
  readonly body: Buffer[];
  complete: boolean;
}

export interface OurResponses {
  readonly responses: OurResponse[];
  error: OurError | undefined;
  thrown: string | undefined;
  /**
   * The connection is not reused: a protocol error, bytes after a response (or with no request outstanding),
   * or a response whose framing ends the connection.
   */
  spoiled: boolean;
  /** Exchanges whose response was read to its end. */
  answered: number;
}

const RESPONSE_ERRORS: ReadonlySet<unknown> = new Set([ResponseProtocolError, UpstreamClosedError]);

export interface ResponseExchange {
  readonly head: boolean;
  /** This exchange's bytes, cut into the pieces the socket hands over. */
  readonly pieces: readonly Buffer[];
}

export function readResponses(exchanges: readonly ResponseExchange[], eof: boolean, limits: Limits): OurResponses {
  const out: OurResponses = { responses: [], error: undefined, thrown: undefined, spoiled: false, answered: 0 };
  let current: OurResponse | undefined;
  let stop = false;
  const reader = new ResponseReader(
    {
      onResponseHead(head: ResponseHead) {
        current = {
          status: head.status,
          reason: head.reason,
          minor: head.minor,
          names: head.names.slice(),
          values: head.values.slice(),
          framing: head.body,
          reusable: head.reusable,
          body: [],
          complete: false,
        };
        out.responses.push(current);
      },
      onResponseBody(buf, start, end) {
        current!.body.push(buf.subarray(start, end));
      },
      onResponseEnd() {
        current!.complete = true;
        out.answered++;
        // upstream-connection.ts: a response that is not reusable ends the connection.
        if (!current!.reusable) stop = true;
      },
      onResponseError(err) {
        if (!RESPONSE_ERRORS.has(err.constructor)) out.thrown = `onResponseError with ${err.name}: ${err.message}`;
        out.error = { name: err.name, code: err.code, status: 502, message: err.message };
      },
    },
    limits.maxHeaderSize,
    limits.maxHeaders,
  );
  try {
    for (const ex of exchanges) {
      if (stop || out.error !== undefined || reader.failed) break;
      // The pool writes the next request only on an idle connection; if the previous answer is still
      // arriving, these bytes are more of it (and spoil the connection once it ends). Requests are answered in
      // order, so the response now expected answers request number `answered`.
      if (reader.idle) reader.expect(exchanges[out.answered]!.head);
      for (const piece of ex.pieces) {
        if (stop || out.error !== undefined) break;
        if (piece.length === 0) continue;
        if (reader.idle) {
          // The answer ended at the previous piece: these bytes follow a complete response, which the reader
          // treats as spoiling the connection whether they arrive with it or after it.
          stop = true;
          break;
        }
        reader.push(piece);
      }
    }
    if (eof && !stop && out.error === undefined && !reader.failed) reader.end();
  } catch (err) {
    out.thrown = describeThrown(err);
  }
  out.spoiled = reader.failed || out.error !== undefined || stop;
  return out;
}
