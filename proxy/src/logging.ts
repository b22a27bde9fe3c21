// JSON log lines, one per event, and the access line. Secrets never reach a log line by construction (the
// proxy logs no headers); the redaction below is the second line of defence should a future log call pass
// credentials or headers.
//
// Not pino: its lines are what this logger writes (same fields, same order, the same ISO time, test/logging
// compares), but loading it costs ~7 MB of RSS (measured: 44.9 MB for Node with tls/http/net, 52.0 MB with
// pino), a seventh of the sidecar's budget, for the dozen lines an hour the proxy writes outside the access
// log. The access log, the one hot log, never went through pino anyway.

import type { LogWriter } from './log-writer.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type LevelName = keyof typeof LEVELS;

export interface Logger {
  trace(fields: Record<string, unknown>, msg?: string): void;
  debug(fields: Record<string, unknown>, msg?: string): void;
  info(fields: Record<string, unknown>, msg?: string): void;
  warn(fields: Record<string, unknown>, msg?: string): void;
  error(fields: Record<string, unknown>, msg?: string): void;
  fatal(fields: Record<string, unknown>, msg?: string): void;
}

/** A destination for whole lines (the LogWriter, or a test's collector). */
export interface LineSink {
  write(line: string): unknown;
}

/** Keys whose values are never written, at any depth (lower-case compare). */
export const REDACTED_KEYS = new Set(['authorization', 'x-amz-security-token', 'x-original-authorization', 'secretaccesskey', 'sessiontoken', 'credentials', 'token']);

const SERVICE = 'lattice-sigv4-proxy';

/** An ISO timestamp formatted once per millisecond: under load several lines share one. */
export function cachedIsoTime(): () => string {
  let ms = -1;
  let text = '';
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      text = ',"time":"' + new Date(now).toISOString() + '"';
    }
    return text;
  };
}

function replacer(key: string, value: unknown): unknown {
  if (key !== '' && REDACTED_KEYS.has(key.toLowerCase())) return '[redacted]';
  if (value instanceof Error) return { type: value.name, message: value.message, ...(value.stack ? { stack: value.stack } : {}) };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger(level: string, sink: LineSink | LogWriter): Logger {
  const threshold = LEVELS[level as LevelName] ?? LEVELS.info;
  const time = cachedIsoTime();
  const line = (name: LevelName, fields: Record<string, unknown>, msg: string | undefined): void => {
    if (LEVELS[name] < threshold) return;
    let body: string;
    try {
      body = JSON.stringify(fields, replacer);
    } catch (err) {
      body = JSON.stringify({ logError: `fields could not be serialised: ${(err as Error).message}` });
    }
    // {"level":..,"time":..,"service":..,<fields>,"msg":..}: pino's order, so tools reading either agree.
    let out = '{"level":"' + name + '"' + time() + ',"service":"' + SERVICE + '"';
    if (body.length > 2) out += ',' + body.slice(1, -1);
    if (msg !== undefined) out += ',"msg":' + JSON.stringify(msg);
    sink.write(out + '}\n');
  };
  return {
    trace: (f, m) => line('trace', f, m),
    debug: (f, m) => line('debug', f, m),
    info: (f, m) => line('info', f, m),
    warn: (f, m) => line('warn', f, m),
    error: (f, m) => line('error', f, m),
    fatal: (f, m) => line('fatal', f, m),
  };
}

export interface AccessEntry {
  /** Undefined when the request line could not be parsed. */
  method: string | undefined;
  host: string | undefined;
  /** Path without the query (a query may carry an app's secrets). */
  path: string | undefined;
  status: number;
  origin: 'upstream' | 'proxy';
  /** The proxy's error code, for answers the proxy made. */
  code: string | undefined;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  /** 'h2c' when the app spoke HTTP/2 (absent: HTTP/1.x). */
  protocol?: 'h2c' | undefined;
  /** 'h2' when the request went to Lattice over HTTP/2 (absent: HTTP/1.1). */
  upstreamProtocol?: 'h2' | undefined;
  /** The gRPC status of a gRPC call (from the trailers, or the proxy's own). */
  grpcStatus?: number | undefined;
}

/** A JSON string literal; the fields here are parser-checked ASCII, so escaping is rarely needed. */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/**
 * The per-request access line, in the same shape as pino's lines (level, time, service first, msg last),
 * built as one string from a fixed set of scalar fields: no object walk, no redaction pass (nothing here
 * can hold a secret: the path is cut before its query).
 */
export class AccessLog {
  readonly #writer: LogWriter;
  readonly #time = cachedIsoTime();
  readonly #prefix = '{"level":"info"';
  readonly #service = ',"service":"' + SERVICE + '","event":"access"';

  constructor(writer: LogWriter) {
    this.#writer = writer;
  }

  write(e: AccessEntry): void {
    let line = this.#prefix + this.#time() + this.#service;
    if (e.method !== undefined) line += ',"method":' + jsonString(e.method);
    if (e.host !== undefined) line += ',"host":' + jsonString(e.host);
    if (e.path !== undefined) line += ',"path":' + jsonString(e.path);
    line += ',"status":' + e.status + ',"origin":"' + e.origin + '"';
    if (e.code !== undefined) line += ',"code":"' + e.code + '"';
    if (e.protocol !== undefined) line += ',"protocol":"' + e.protocol + '"';
    if (e.upstreamProtocol !== undefined) line += ',"upstreamProtocol":"' + e.upstreamProtocol + '"';
    if (e.grpcStatus !== undefined) line += ',"grpcStatus":' + e.grpcStatus;
    line += ',"durationMs":' + e.durationMs + ',"bytesIn":' + e.bytesIn + ',"bytesOut":' + e.bytesOut + ',"msg":"request"}\n';
    this.#writer.write(line);
  }
}
