// The one writer behind every log line (pino's and the access log's): lines are appended to a batch in memory
// and written with one asynchronous write(2) per batch, off the event loop (libuv's thread pool), so a slow
// reader of stdout never stalls a request. end() writes what is left and resolves once it is out: the
// shutdown path awaits it, so no line is lost on SIGTERM or any orderly exit.

import { write, writeSync } from 'node:fs';

export interface LogWriterOptions {
  readonly fd: number;
  /** Batch size that triggers a write at once rather than on the next turn of the event loop. */
  readonly highWaterBytes?: number;
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
  #scheduled = false;
  #dropped = 0;
  #ending: Array<() => void> = [];
  #failed: Error | undefined;

  constructor(o: LogWriterOptions) {
    this.#fd = o.fd;
    this.#highWater = o.highWaterBytes ?? 16 * 1024;
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
    if (this.#writing === 0) {
      if (this.#batch.length >= this.#highWater) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#onImmediate);
      }
    }
    return true;
  }

  readonly #onImmediate = (): void => {
    this.#scheduled = false;
    if (this.#writing === 0) this.#flush();
  };

  #flush(): void {
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
      this.#flush();
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
