// One coarse timer for every deadline of the data path (head, request, upstream, idle, lingering). A timer
// per request costs a timer-list insertion and removal on every request and shows in the profile; here a
// connection stores a deadline number and one interval sweeps the live set. Deadlines are set from
// coarseNow, which lags the real clock by up to a tick (more while a poll phase runs long), so the sweep judges
// them against a clock one tick behind: a timeout never fires before its time (an upstream cut at 926 ms of a
// 1 s UPSTREAM_TIMEOUT_MS, CI 2026-12-02), and at most about two ticks after it.

export interface Timed {
  /** Called on every tick with the ticker's clock less one tick; the object compares its own deadlines. */
  onTick(now: number): void;
}

export class Ticker {
  readonly #members = new Set<Timed>();
  readonly #interval: NodeJS.Timeout;
  readonly tickMs: number;
  #now = performance.now();

  constructor(tickMs: number) {
    this.tickMs = tickMs;
    this.#interval = setInterval(() => this.#tick(), tickMs);
    // The listeners keep the process alive; the sweep must not keep a draining process alive.
    this.#interval.unref();
  }

  /** Milliseconds on a monotonic clock, read fresh (deadlines are set from it). */
  now(): number {
    return (this.#now = performance.now());
  }

  /** The clock as of the last tick or now() call: for deadlines where a tick of error does not matter. */
  get coarseNow(): number {
    return this.#now;
  }

  add(member: Timed): void {
    this.#members.add(member);
  }

  delete(member: Timed): void {
    this.#members.delete(member);
  }

  get size(): number {
    return this.#members.size;
  }

  #tick(): void {
    const judged = (this.#now = performance.now()) - this.tickMs;
    for (const m of this.#members) m.onTick(judged);
  }

  stop(): void {
    clearInterval(this.#interval);
  }
}

/** A tick fine enough for the shortest configured timeout (a tenth of it), within [10 ms, 1 s]. */
export function tickFor(timeoutsMs: readonly number[]): number {
  let min = Infinity;
  for (const t of timeoutsMs) if (t > 0 && t < min) min = t;
  return Math.max(10, Math.min(1000, Math.floor(min / 10)));
}
