// node:http2, loaded the first time an HTTP/2 connection is made (an h2c app, or an HTTP2_HOSTS request): a
// pod that only speaks HTTP/1.1 does not carry it (~1.5 MB of RSS, measured).

import { createRequire } from 'node:module';

type Http2 = typeof import('node:http2');

const load = createRequire(import.meta.url);
let http2: Http2 | undefined;

export function http2Module(): Http2 {
  return (http2 ??= load('node:http2') as Http2);
}

/** RFC 9113 error codes and flags used here (the values of node:http2's constants). */
export const NGHTTP2_NO_ERROR = 0x0;
export const NGHTTP2_INTERNAL_ERROR = 0x2;
export const NGHTTP2_CANCEL = 0x8;
export const NGHTTP2_FLAG_END_STREAM = 0x1;
