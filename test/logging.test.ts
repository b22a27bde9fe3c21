// The access log's timestamp is formatted once per millisecond (logging.ts): it must stay byte-identical
// to pino's isoTime and move with the clock.

import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cachedIsoTime } from '../proxy/src/logging.js';

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
