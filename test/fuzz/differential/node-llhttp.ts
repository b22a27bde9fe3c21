// The request oracle: node:http's own llhttp (the C++ binding `HTTPParser` that lib/_http_server.js drives),
// called directly, without sockets. It is set up exactly as Node 20's connectionListenerInternal does for
// `http.createServer({ maxHeaderSize })`: REQUEST mode, the server's maxHeaderSize, kLenientNone (no
// insecureHTTPParser option, no --insecure-http-parser flag), and the callbacks of lib/_http_common.js
// (kOnHeaders for the slow path and trailers, kOnHeadersComplete, kOnBody, kOnMessageComplete). What the
// server's parserOnIncoming returns from kOnHeadersComplete is what this returns: 2 for CONNECT (an upgrade
// the server hands to its 'connect' listener), 0 for everything else (an `Upgrade` request is served as a
// plain request when the server has no 'upgrade' listener, but llhttp still stops reading HTTP after it).

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface NodeParseError extends Error {
  code: string;
  reason: string;
  bytesParsed: number;
}

interface NodeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  execute(buf: Buffer): number | NodeParseError;
  [slot: number]: unknown;
}

interface HttpParserClass {
  new (): NodeHttpParser;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

const { HTTPParser } = require('_http_common') as { HTTPParser: HttpParserClass };

/**
 * llhttp's method numbers → names, as the server reads them (`allMethods[method]`). Only reachable through
 * the deprecated process.binding; its one-time DEP0111 warning is silenced for this read alone.
 */
const ALL_METHODS: readonly string[] = (() => {
  const before = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return (process as unknown as { binding(name: string): { allMethods: string[] } }).binding('http_parser').allMethods;
  } finally {
    process.noDeprecation = before;
  }
})();

/** lib/_http_common.js MAX_HEADER_PAIRS: the parser's maxHeaderPairs when the server sets no maxHeadersCount. */
const MAX_HEADER_PAIRS = 2000;

export interface LlhttpRequest {
  method: string;
  target: string;
  major: number;
  minor: number;
  /** Names as received and values as delivered (llhttp skips leading OWS, Node strips trailing OWS). */
  readonly names: string[];
  readonly values: string[];
  keepAlive: boolean;
  /** llhttp stops reading HTTP after this request (CONNECT, or Upgrade with Connection: upgrade). */
  upgrade: boolean;
  readonly body: Buffer[];
  complete: boolean;
}

export interface LlhttpRequests {
  readonly requests: LlhttpRequest[];
  /** llhttp refused the stream: its HPE_* code and reason. */
  error: { code: string; reason: string } | undefined;
  /** Bytes llhttp consumed (less than the stream after an upgrade). */
  consumed: number;
}

export class NodeRequestOracle {
  readonly #parser: NodeHttpParser;
  readonly #maxHeaderSize: number;
  #out: LlhttpRequests = { requests: [], error: undefined, consumed: 0 };
  /** lib/_http_common.js parser._headers / parser._url: the slow path (heads split across reads or > 32 fields). */
  #pendingHeaders: string[] = [];
  #pendingUrl = '';
  #current: LlhttpRequest | undefined;

  /** `maxHeaderSize`: what the proxy passed to http.createServer (config.maxHeaderSize). */
  constructor(maxHeaderSize: number) {
    this.#maxHeaderSize = maxHeaderSize;
    const p = new HTTPParser();
    p[HTTPParser.kOnHeaders] = (headers: string[], url: string): void => {
      if (this.#pendingHeaders.length < MAX_HEADER_PAIRS) this.#pendingHeaders.push(...headers);
      this.#pendingUrl += url;
    };
    p[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _statusCode: unknown,
      _statusMessage: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ): number => {
      const flat = headers ?? this.#pendingHeaders;
      this.#pendingHeaders = [];
      const target = url ?? this.#pendingUrl;
      this.#pendingUrl = '';
      const n = Math.min(flat.length, MAX_HEADER_PAIRS);
      const names: string[] = [];
      const values: string[] = [];
      for (let i = 0; i + 1 < n; i += 2) {
        names.push(flat[i]!);
        values.push(flat[i + 1]!);
      }
      const name = ALL_METHODS[method] ?? `#${method}`;
      const req: LlhttpRequest = { method: name, target, major, minor, names, values, keepAlive, upgrade, body: [], complete: false };
      this.#current = req;
      this.#out.requests.push(req);
      return upgrade && name === 'CONNECT' ? 2 : 0;
    };
    p[HTTPParser.kOnBody] = (b: Buffer): void => {
      this.#current?.body.push(Buffer.from(b));
    };
    p[HTTPParser.kOnMessageComplete] = (): void => {
      // Trailers arrive through kOnHeaders before this; the server adds them to req.trailers, not the head.
      this.#pendingHeaders = [];
      this.#pendingUrl = '';
      if (this.#current !== undefined) this.#current.complete = true;
      this.#current = undefined;
    };
    this.#parser = p;
  }

  /** Parse one connection's bytes, as one read (llhttp is incremental; how the bytes are cut does not matter to it). */
  parse(bytes: Buffer): LlhttpRequests {
    this.#out = { requests: [], error: undefined, consumed: 0 };
    this.#pendingHeaders = [];
    this.#pendingUrl = '';
    this.#current = undefined;
    this.#parser.initialize(HTTPParser.REQUEST, {}, this.#maxHeaderSize, HTTPParser.kLenientNone);
    const ret = this.#parser.execute(bytes);
    if (typeof ret === 'number') {
      this.#out.consumed = ret;
    } else {
      this.#out.error = { code: ret.code, reason: ret.reason };
      this.#out.consumed = ret.bytesParsed;
    }
    return this.#out;
  }
}
