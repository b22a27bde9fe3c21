// The access log's timestamp is formatted once per millisecond (logging.ts): it must stay byte-identical
// to pino's isoTime and move with the clock.

import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cachedIsoTime, createLogger } from '../proxy/src/logging.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('cachedIsoTime', () => {
  it('formats exactly like pino.stdTimeFunctions.isoTime', () => {
    vi.useFakeTimers();
    const t = cachedIsoTime();
    for (const ms of [0, 1_764_000_000_123, 1_764_000_000_999, 4_102_444_800_000]) {
      vi.setSystemTime(ms);
      expect(t()).toBe(pino.stdTimeFunctions.isoTime());
    }
  });

  it('reuses the text within a millisecond and changes with the next one', () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_764_000_000_000);
    const t = cachedIsoTime();
    const a = t();
    expect(t()).toBe(a);
    vi.setSystemTime(1_764_000_000_001);
    expect(t()).not.toBe(a);
    expect(t()).toBe(',"time":"2025-11-24T16:00:00.001Z"');
  });
});

describe('createLogger', () => {
  const collect = (level: string): { lines: string[]; logger: ReturnType<typeof createLogger> } => {
    const lines: string[] = [];
    return { lines, logger: createLogger(level, { write: (l: string) => lines.push(l) }) };
  };

  it("writes the same line pino writes with the proxy's settings (field order, level label, time, msg)", () => {
    vi.useFakeTimers();
    vi.setSystemTime(1_764_000_000_123);
    const ours = collect('info');
    const theirs: string[] = [];
    const p = pino(
      { level: 'info', base: { service: 'lattice-sigv4-proxy' }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
      { write: (l: string) => theirs.push(l) },
    );
    const fields = { event: 'ca_loaded', source: 'pca', certificates: [{ subject: 'CN=x', ca: true }], retryInMs: 1000 };
    ours.logger.info(fields, 'trusted Private CA roots loaded');
    p.info(fields, 'trusted Private CA roots loaded');
    ours.logger.warn({ event: 'x' });
    p.warn({ event: 'x' });
    expect(ours.lines).toEqual(theirs);
  });

  it('drops lines below the level', () => {
    const c = collect('warn');
    c.logger.info({ event: 'quiet' }, 'not written');
    c.logger.error({ event: 'loud' }, 'written');
    expect(c.lines.map((l) => JSON.parse(l).event)).toEqual(['loud']);
  });

  it('redacts credential-shaped keys at any depth, whatever their case', () => {
    const c = collect('info');
    c.logger.info({ headers: { Authorization: 'AWS4-HMAC-SHA256 sig', 'x-amz-security-token': 'tok' }, creds: { secretAccessKey: 's', sessionToken: 't' }, credentials: { a: 1 } }, 'm');
    const line = c.lines[0]!;
    for (const secret of ['AWS4-HMAC-SHA256 sig', '"tok"', '"s"', '"t"', '"a":1']) expect(line).not.toContain(secret);
    expect(JSON.parse(line).headers.Authorization).toBe('[redacted]');
  });

  it('writes an Error as its type and message, and survives a circular value', () => {
    const c = collect('info');
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    c.logger.error({ error: new TypeError('boom') }, 'one');
    c.logger.error({ circular }, 'two');
    expect(JSON.parse(c.lines[0]!).error).toMatchObject({ type: 'TypeError', message: 'boom' });
    expect(JSON.parse(c.lines[1]!).logError).toContain('could not be serialised');
    expect(JSON.parse(c.lines[1]!).msg).toBe('two');
  });
});
