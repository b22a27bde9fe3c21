// pino JSON logs. Secrets never reach a log line by construction (the proxy logs no headers), and the
// redaction below is the second line of defence should a future log call pass credentials or headers.

import { pino, type Logger, type DestinationStream } from 'pino';

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

// Top-level keys only. The access line is built by the proxy from a fixed set of scalar fields, so the
// wildcard paths above can never match in it, yet they make pino walk every key of every line: measured
// ~3x the cost of the whole log call (bench/README.md, "access log").
const ACCESS_REDACT_PATHS = REDACT_PATHS.filter((p) => !p.includes('*') && !p.includes('.') && !p.includes('['));

/** The logger for the per-request access line: same destination and format, top-level redaction only. */
export function accessLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: ACCESS_REDACT_PATHS, censor: '[redacted]' } });
}

/**
 * pino's isoTime, formatted once per millisecond: under load several lines share a millisecond, and
 * Date#toISOString was 1.6 % of the proxy's CPU profile.
 */
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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'lattice-sigv4-proxy' },
      timestamp: cachedIsoTime(),
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous writes keep the request path off the write(2) syscall; main flushes on exit.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
