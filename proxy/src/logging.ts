// pino JSON logs, and the access line written without pino. Secrets never reach a log line by construction
// (the proxy logs no headers), and the redaction below is the second line of defence should a future log
// call pass credentials or headers.

import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogWriter } from './log-writer.js';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'headers["x-amz-security-token"]',
  'headers["x-original-authorization"]',
  'secretAccessKey',
  'sessionToken',
  'credentials',
  '*.authorization',
  '*.secretAccessKey',
  '*.sessionToken',
  '*.credentials',
];

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

export function createLogger(level: string, destination: DestinationStream | LogWriter): Logger {
  return pino(
    {
      level,
      base: { service: SERVICE },
      timestamp: cachedIsoTime(),
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination as DestinationStream,
  );
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
    line += ',"durationMs":' + e.durationMs + ',"bytesIn":' + e.bytesIn + ',"bytesOut":' + e.bytesOut + ',"msg":"request"}\n';
    this.#writer.write(line);
  }
}
