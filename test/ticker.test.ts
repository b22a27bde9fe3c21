// The shared sweep that replaces a timer per request: a deadline set from the coarse clock (up to a tick stale)
// never fires before its time, and fires within about two ticks after it.

import { afterEach, describe, expect, it } from 'vitest';
import { Ticker, tickFor } from '../proxy/src/ticker.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Ticker', () => {
  const tickers: Ticker[] = [];
  afterEach(() => {
    for (const t of tickers.splice(0)) t.stop();
  });

  it('a deadline set from a stale coarseNow does not fire early', async () => {
    const TICK = 50;
    const TIMEOUT = 200;
    const ticker = new Ticker(TICK);
    tickers.push(ticker);
    // Let a tick pass, then set the deadline late in the tick interval, when coarseNow is most stale.
    await sleep(TICK + TICK * 0.8);
    const setAt = performance.now();
    const deadline = ticker.coarseNow + TIMEOUT;
    expect(setAt - ticker.coarseNow).toBeGreaterThan(TICK * 0.3); // the case under test: a stale clock
    const firedAt = await new Promise<number>((resolve) => {
      const member = {
        onTick(now: number): void {
          if (now < deadline) return;
          ticker.delete(member);
          resolve(performance.now());
        },
      };
      ticker.add(member);
    });
    expect(firedAt - setAt).toBeGreaterThanOrEqual(TIMEOUT);
    // Late by at most two ticks, plus timer slack on a shared host.
    expect(firedAt - setAt).toBeLessThan(TIMEOUT + 2 * TICK + 250);
  });

  it('now() refreshes coarseNow; members removed are not called', async () => {
    const ticker = new Ticker(10);
    tickers.push(ticker);
    await sleep(30);
    const fresh = ticker.now();
    expect(ticker.coarseNow).toBe(fresh);
    let calls = 0;
    const m = { onTick: (): void => void calls++ };
    ticker.add(m);
    await sleep(50);
    expect(calls).toBeGreaterThan(0);
    ticker.delete(m);
    const at = calls;
    await sleep(50);
    expect(calls).toBe(at);
    expect(ticker.size).toBe(0);
  });

  it('tickFor: a tenth of the shortest timeout, within [10 ms, 1 s]; 0 means no timeout', () => {
    expect(tickFor([5_000, 30_000, 300_000, 50_000])).toBe(500);
    expect(tickFor([1_000, 30_000])).toBe(100);
    expect(tickFor([0, 50])).toBe(10);
    expect(tickFor([600_000])).toBe(1_000);
  });
});
