// How an answer is framed for the app on HTTP/1.x, whichever protocol it came from Lattice on: a length the
// upstream gave is passed on; a body of unknown length is chunked for HTTP/1.1 apps and runs to the close for
// HTTP/1.0 ones; HEAD, 1xx, 204 and 304 answers have none.

import type { AppSide } from './exchange.js';

export const enum AppFraming {
  None,
  Length,
  Chunked,
  /** HTTP/1.0 app and a body of unknown length: the body runs to the close. */
  UntilClose,
}

export const CRLF = '\r\n';
export const LAST_CHUNK = '0\r\n\r\n';

/** The framing for the app, from what the upstream's answer says about its body. */
export function appFraming(body: 'none' | 'length' | 'unknown', appMinor: number): AppFraming {
  if (body === 'none') return AppFraming.None;
  if (body === 'length') return AppFraming.Length;
  return appMinor === 1 ? AppFraming.Chunked : AppFraming.UntilClose;
}

/** The framing and connection lines that end a response head for the app. */
export function headTail(framing: AppFraming, close: boolean, appMinor: number): string {
  let out = framing === AppFraming.Chunked ? 'transfer-encoding: chunked\r\n' : '';
  if (close) out += 'connection: close\r\n';
  else if (appMinor === 0) out += 'connection: keep-alive\r\n';
  return out + CRLF;
}

/** Write body bytes in the app's framing; false: the app's socket buffer is full (pause the source). */
export function writeBody(app: AppSide, framing: AppFraming, slice: Buffer): boolean {
  if (framing !== AppFraming.Chunked) return app.write(slice);
  app.write(slice.length.toString(16) + CRLF);
  app.write(slice);
  return app.write(CRLF);
}
