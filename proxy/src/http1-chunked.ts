// The chunked transfer coding (RFC 9112 §7.1), decoded incrementally from whatever slices the socket hands
// over. Used for request bodies from the app and response bodies from Lattice. Chunk data is passed on as
// sub-slices of the input (no copy); chunk extensions are checked and dropped; trailer fields are checked and
// dropped (the proxy re-frames every body it forwards, so nothing of the sender's framing travels on).

import { CR, HEX_VALUE, HTAB, LF, SP, TCHAR, UPPER } from './http1-syntax.js';

export interface ChunkSink {
  onChunkData(buf: Buffer, start: number, end: number): void;
}

const enum S {
  SizeStart,
  Size,
  ExtName,
  ExtNameStart,
  ExtValueStart,
  ExtToken,
  ExtQuoted,
  ExtQuotedPair,
  ExtQuotedEnd,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  TrailerEndLf,
  Done,
}

/** Longest chunk-size line (size and extensions) accepted; real senders use a few bytes. */
const MAX_SIZE_LINE = 4096;
const MAX_SIZE_DIGITS = 16;
/**
 * Trailer fields llhttp acts on: it refuses Content-Length and Transfer-Encoding there, and stops reading the
 * connection after `Connection: close`. Framing and connection fields belong in the head (RFC 9110 §6.5.1).
 */
const FRAMING_TRAILERS = new Set(['content-length', 'transfer-encoding', 'connection']);
/** Longest name in FRAMING_TRAILERS: a longer trailer name is not collected. */
const FRAMING_TRAILER_NAME_MAX = 17;

function isQdtext(c: number): boolean {
  return c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

export class ChunkedDecoder {
  #state = S.SizeStart;
  #size = 0;
  #digits = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  /** The current trailer field's name, lower-case, while it may still be one of FRAMING_TRAILERS. */
  #trailerName = '';
  readonly #fail: (message: string) => never;
  readonly #maxTrailerBytes: number;

  constructor(fail: (message: string) => never, maxTrailerBytes: number) {
    this.#fail = fail;
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  get done(): boolean {
    return this.#state === S.Done;
  }

  reset(): void {
    this.#state = S.SizeStart;
    this.#size = 0;
    this.#digits = 0;
    this.#lineBytes = 0;
    this.#trailerBytes = 0;
  }

  /**
   * Decode `buf[start, end)`. Data goes to `sink` as it is found. Returns the index just after the message's
   * last byte once the final chunk and trailer section are complete, else -1 (everything was consumed).
   */
  feed(buf: Buffer, start: number, end: number, sink: ChunkSink): number {
    let p = start;
    const fail = this.#fail;
    while (p < end) {
      switch (this.#state) {
        case S.Data: {
          const n = Math.min(this.#size, end - p);
          sink.onChunkData(buf, p, p + n);
          p += n;
          this.#size -= n;
          if (this.#size === 0) this.#state = S.DataCr;
          continue;
        }
        case S.SizeStart: {
          const v = HEX_VALUE[buf[p]!]!;
          if (v < 0) fail('invalid chunk size');
          this.#size = v;
          this.#digits = v === 0 ? 0 : 1;
          this.#lineBytes = 1;
          this.#state = S.Size;
          p++;
          continue;
        }
        case S.DataCr:
          if (buf[p] !== CR) fail('chunk data longer than its size');
          this.#state = S.DataLf;
          p++;
          continue;
        case S.DataLf:
          if (buf[p] !== LF) fail('chunk data not followed by CRLF');
          this.#state = S.SizeStart;
          p++;
          continue;
        default:
          break;
      }
      // The byte-wise states: size line and trailer section.
      const c = buf[p]!;
      p++;
      if (this.#state <= S.SizeLf && ++this.#lineBytes > MAX_SIZE_LINE) fail('chunk size line too long');
      switch (this.#state) {
        case S.Size: {
          const v = HEX_VALUE[c]!;
          if (v >= 0) {
            if (this.#digits > 0 || v > 0) this.#digits++;
            if (this.#digits > MAX_SIZE_DIGITS) fail('chunk size too large');
            this.#size = this.#size * 16 + v;
            if (this.#size > Number.MAX_SAFE_INTEGER) fail('chunk size too large');
          } else if (c === 0x3b /* ; */) this.#state = S.ExtNameStart;
          else if (c === CR) this.#state = S.SizeLf;
          else fail('invalid chunk size');
          break;
        }
        case S.ExtNameStart:
          if (TCHAR[c] !== 1) fail('invalid chunk extension');
          this.#state = S.ExtName;
          break;
        case S.ExtName:
          if (TCHAR[c] === 1) break;
          if (c === 0x3d /* = */) this.#state = S.ExtValueStart;
          else if (c === 0x3b) this.#state = S.ExtNameStart;
          else if (c === CR) this.#state = S.SizeLf;
          else fail('invalid chunk extension');
          break;
        case S.ExtValueStart:
          if (c === 0x22 /* " */) this.#state = S.ExtQuoted;
          else if (TCHAR[c] === 1) this.#state = S.ExtToken;
          else fail('invalid chunk extension value');
          break;
        case S.ExtToken:
          if (TCHAR[c] === 1) break;
          if (c === 0x3b) this.#state = S.ExtNameStart;
          else if (c === CR) this.#state = S.SizeLf;
          else fail('invalid chunk extension value');
          break;
        case S.ExtQuoted:
          if (c === 0x22) this.#state = S.ExtQuotedEnd;
          else if (c === 0x5c /* \ */) this.#state = S.ExtQuotedPair;
          else if (!isQdtext(c)) fail('invalid chunk extension value');
          break;
        case S.ExtQuotedPair:
          if (c !== HTAB && (c < 0x20 || c > 0x7e)) fail('invalid chunk extension value');
          this.#state = S.ExtQuoted;
          break;
        case S.ExtQuotedEnd:
          if (c === 0x3b) this.#state = S.ExtNameStart;
          else if (c === CR) this.#state = S.SizeLf;
          else fail('invalid chunk extension');
          break;
        case S.SizeLf:
          if (c !== LF) fail('chunk size line not ended by CRLF');
          this.#state = this.#size === 0 ? S.TrailerStart : S.Data;
          break;
        case S.TrailerStart:
          if (++this.#trailerBytes > this.#maxTrailerBytes) fail('trailer section too large');
          if (c === CR) this.#state = S.TrailerEndLf;
          else if (TCHAR[c] === 1) {
            this.#state = S.TrailerName;
            this.#trailerName = String.fromCharCode(UPPER[c] === 1 ? c | 0x20 : c);
          } else fail('invalid trailer field');
          break;
        case S.TrailerName:
          if (++this.#trailerBytes > this.#maxTrailerBytes) fail('trailer section too large');
          if (c === 0x3a /* : */) {
            this.#state = S.TrailerValue;
            if (FRAMING_TRAILERS.has(this.#trailerName)) fail(`${this.#trailerName} in the trailer section`);
          } else if (TCHAR[c] !== 1) fail('invalid trailer field name');
          else if (this.#trailerName.length <= FRAMING_TRAILER_NAME_MAX) this.#trailerName += String.fromCharCode(UPPER[c] === 1 ? c | 0x20 : c);
          break;
        case S.TrailerValue:
          if (++this.#trailerBytes > this.#maxTrailerBytes) fail('trailer section too large');
          if (c === CR) this.#state = S.TrailerLf;
          else if (c !== HTAB && (c < 0x20 || c === 0x7f)) fail('invalid byte in a trailer field');
          break;
        case S.TrailerLf:
          if (c !== LF) fail('bare CR in a trailer field');
          this.#state = S.TrailerStart;
          break;
        case S.TrailerEndLf:
          if (c !== LF) fail('chunked body not ended by CRLF');
          this.#state = S.Done;
          return p;
        case S.Done:
          return p - 1;
        default:
          fail('chunked decoder in an impossible state');
      }
    }
    return this.#state === S.Done ? p : -1;
  }
}
