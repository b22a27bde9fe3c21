// Byte classes of RFC 9110/9112, as lookup tables: the parsers test each byte of untrusted input once, with
// one array read, instead of a chain of comparisons.

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const isAlnum = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** tchar (RFC 9110 §5.6.2): the bytes of a method or a field name. */
export const TCHAR = table((c) => isAlnum(c) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)));

/** Upper-case ASCII letters, to know whether a field name needs lower-casing at all. */
export const UPPER = table((c) => c >= 0x41 && c <= 0x5a);

/**
 * Bytes of a request-target: visible ASCII only. Raw bytes >= 0x80, controls, space and DEL are refused
 * (RFC 9112 §3.2 targets are ASCII; percent-encoding is how other bytes travel).
 */
export const TARGET_CHAR = table((c) => c >= 0x21 && c <= 0x7e);

/**
 * Bytes of a request field value (RFC 9110 §5.5: field-vchar, SP, HTAB, obs-text), minus 0x80–0x9F: once
 * decoded as latin1 these are C1 controls (0x85 is NEL), which SigV4 implementations canonicalise differently
 * (botocore treats U+0085 as white space, smithy does not), so a signature over them depends on the verifier.
 */
export const REQUEST_VALUE_CHAR = table((c) => c === 0x09 || (c >= 0x20 && c <= 0x7e) || c >= 0xa0);

/** Bytes of a response field value: the full RFC 9110 set (nothing from the upstream is signed). */
export const RESPONSE_VALUE_CHAR = table((c) => c === 0x09 || (c >= 0x20 && c <= 0x7e) || c >= 0x80);

/** Bytes of a reason phrase (RFC 9112 §4): HTAB, SP, VCHAR, obs-text. */
export const REASON_CHAR = table((c) => c === 0x09 || (c >= 0x20 && c <= 0x7e) || c >= 0x80);

export const HEX_VALUE = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0x30; c <= 0x39; c++) t[c] = c - 0x30;
  for (let c = 0x41; c <= 0x46; c++) t[c] = c - 0x41 + 10;
  for (let c = 0x61; c <= 0x66; c++) t[c] = c - 0x61 + 10;
  return t;
})();

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/**
 * A comma-separated list value (RFC 9110 §5.6.1) as lower-case members with OWS (SP, HTAB) removed, empty
 * members dropped. Used for Connection and Transfer-Encoding, whose members are tokens. Only OWS: String#trim
 * would also strip 0xA0 (NBSP in latin1), reading `\xa0chunked` as chunked where llhttp does not.
 */
export function listMembers(value: string, out: string[]): void {
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || value.charCodeAt(i) === 0x2c /* , */) {
      let a = start;
      let b = i;
      while (a < b && (value.charCodeAt(a) === SP || value.charCodeAt(a) === HTAB)) a++;
      while (b > a && (value.charCodeAt(b - 1) === SP || value.charCodeAt(b - 1) === HTAB)) b--;
      if (b > a) out.push(value.slice(a, b).toLowerCase());
      start = i + 1;
    }
  }
}

/**
 * A tab right after a list member, before the next comma or the end of the line (`5\t`, `chunked\t`,
 * `keep-alive\t, x`): OWS to RFC 9110, but llhttp then does not recognise the member (it refuses such a
 * Content-Length, does not see chunked, does not see keep-alive). `buf[from, to)` is the field value as sent.
 */
export function tabAfterMember(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    if (buf[i] !== HTAB) continue;
    let k = i - 1;
    while (k >= from && (buf[k] === SP || buf[k] === HTAB)) k--;
    if (k < from || buf[k] === 0x2c /* , */) continue;
    let j = i + 1;
    while (j < to && (buf[j] === SP || buf[j] === HTAB)) j++;
    if (j === to || buf[j] === 0x2c) return true;
  }
  return false;
}

/** True when `s` is a non-empty token (every char a tchar). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

interface Latin1Sliceable {
  latin1Slice(start: number, end: number): string;
}

/**
 * `buf[start, end)` as a latin1 string. Buffer#latin1Slice is what toString('latin1', ...) ends in after its
 * argument checks and encoding switch; the parsers call it a dozen times per request.
 */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1Sliceable).latin1Slice(start, end);
}
