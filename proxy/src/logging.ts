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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'lattice-sigv4-proxy' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous writes keep the request path off the write(2) syscall; main flushes on exit.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
