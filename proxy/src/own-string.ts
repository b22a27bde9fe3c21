// Strings the proxy keeps beyond the request that carried them (cache keys, pool keys, upstream host names)
// must not share memory with that request. The parsers hand out fields as slices of the whole head's string
// (one decode per head), and V8 keeps a sliced string's parent alive: a remembered slice would pin up to
// MAX_HEADER_SIZE each (a client cycling Host values through a 1,024-entry cache: tens of MB).

/** A copy that owns its memory. Costs an allocation: for the miss paths only, never per request. */
export function ownString(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}
