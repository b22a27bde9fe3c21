// The one writer behind every log line (the logger's and the access log's): lines are appended to a batch in memory
// and written with one asynchronous write(2) per batch, off the event loop (libuv's thread pool), so a slow
// reader of stdout never stalls a request. end() writes what is left and resolves once it is out: the
// shutdown path awaits it, so no line is lost on SIGTERM or any orderly exit.

import { write, writeSync } from 'node:fs';

export interface LogWriterOptions {
  readonly fd: number;
  /** Batch size that triggers a write at once. */
  readonly highWaterBytes?: number;
  /** Longest a line waits for its batch to fill before it is written anyway. */
  readonly maxDelayMs?: number;
  /**
   * Bytes waiting (not yet written) beyond which new lines are dropped and counted rather than buffered: a
   * wedged stdout must not grow the sidecar's memory without bound.
   */
  readonly maxBacklogBytes?: number;
}

export class LogWriter {
  readonly #fd: number;
  readonly #highWater: number;
  readonly #maxBacklog: number;
  #batch = '';
  /** Bytes handed to an in-flight write(2). */
  #writing = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #maxDelay: number;
  #dropped = 0;
  #ending: Array<() => void> = [];
  #failed: Error | undefined;

  constructor(o: LogWriterOptions) {
    this.#fd = o.fd;
    this.#highWater = o.highWaterBytes ?? 64 * 1024;
    this.#maxDelay = o.maxDelayMs ?? 50;
    this.#maxBacklog = o.maxBacklogBytes ?? 16 * 1024 * 1024;
  }

  /** Lines dropped because the backlog was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Append text ending in a newline. Never blocks, never throws. */
  write(line: string): boolean {
    if (this.#batch.length + this.#writing > this.#maxBacklog) {
      this.#dropped++;
      return true;
    }
    this.#batch += line;
    if (this.#writing !== 0) return true;
    if (this.#batch.length >= this.#highWater) this.#flush();
    // One timer per batch, not per line: a write(2) on the thread pool costs two thread hand-offs, so lines
    // are gathered for up to maxDelayMs (a flush per event-loop turn was a write per few requests).
    else if (this.#timer === undefined) this.#timer = setTimeout(this.#onTimer, this.#maxDelay).unref();
    return true;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#writing === 0) this.#flush();
  };

  #flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#batch === '') {
      if (this.#writing === 0) for (const w of this.#ending.splice(0)) w();
      return;
    }
    const text = this.#batch;
    this.#batch = '';
    const buf = Buffer.from(text, 'utf8');
    this.#writing = buf.length;
    this.#writeFrom(buf, 0);
  }

  #writeFrom(buf: Buffer, offset: number): void {
    write(this.#fd, buf, offset, buf.length - offset, null, (err, n) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          // A non-blocking pipe that is full: try again shortly instead of spinning.
          setTimeout(() => this.#writeFrom(buf, offset), 10).unref();
          return;
        }
        // stdout is gone (EPIPE): nothing can be logged any more; keep serving.
        this.#failed = err;
        this.#writing = 0;
        this.#batch = '';
        for (const w of this.#ending.splice(0)) w();
        return;
      }
      if (offset + n < buf.length) {
        this.#writeFrom(buf, offset + n);
        return;
      }
      this.#writing = 0;
      // Lines that came in meanwhile: at once if ending or the batch is full, else after the delay.
      if (this.#ending.length > 0 || this.#batch.length >= this.#highWater || this.#batch === '') this.#flush();
      else if (this.#timer === undefined) this.#timer = setTimeout(this.#onTimer, this.#maxDelay).unref();
    });
  }

  /** Resolves when every line written so far is out (or the descriptor failed). */
  end(): Promise<void> {
    if (this.#failed || (this.#batch === '' && this.#writing === 0)) return Promise.resolve();
    return new Promise((resolve) => {
      this.#ending.push(resolve);
      if (this.#writing === 0) this.#flush();
    });
  }

  /**
   * Last resort on a fatal error: write what is batched synchronously. A write already in flight on the
   * thread pool finishes on its own; the lines in it may interleave after these.
   */
  flushSync(): void {
    if (this.#failed || this.#batch === '') return;
    const text = this.#batch;
    this.#batch = '';
    try {
      writeSync(this.#fd, text);
    } catch {
      // nowhere left to report it
    }
  }
}
