// The gRPC wire format the bench's gRPC upstream and bidi client speak, for the two RPCs of
// test/emulators/proto/demo.proto they use (Hello, Chat): protobuf encoding of HelloRequest / HelloReply
// (the fields the bench sends: strings, an int32, bytes) and gRPC's length-prefixed message framing
// (1 byte compressed flag, 4 bytes big-endian length, the message). Pure functions, node:buffer only, so the
// bench's helper processes stay small; grpc-js decodes the same bytes in bench/lib/grpc-check.ts, which is
// what shows the encoding is right.

export const DEMO_SERVICE_PATH = '/lattice.demo.v1.Demo/';
export const HELLO_PATH = `${DEMO_SERVICE_PATH}Hello`;
export const CHAT_PATH = `${DEMO_SERVICE_PATH}Chat`;

/** What the bench's upstream (grpc-server.ts) answers: HelloReply.pod, and HelloReply.message up to ", <name>". */
export const UPSTREAM_POD = 'bench-grpc-upstream';
export const GREETING_PREFIX = `Requesting to Pod(${UPSTREAM_POD}): Hello from bench-grpc`;

/** gRPC status codes the bench uses. */
export const GRPC_OK = 0;
export const GRPC_INTERNAL = 13;
export const GRPC_UNIMPLEMENTED = 12;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function readVarint(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  let mul = 1;
  for (;;) {
    if (at >= buf.length) throw new Error('protobuf: truncated varint');
    const b = buf[at++]!;
    value += (b & 0x7f) * mul;
    if (b < 0x80) return [value, at];
    mul *= 128;
    if (mul > 2 ** 63) throw new Error('protobuf: varint too long');
  }
}

function lenField(field: number, bytes: Buffer): Buffer[] {
  return bytes.length === 0 ? [] : [Buffer.from([...varint((field << 3) | WIRE_LEN), ...varint(bytes.length)]), bytes];
}

export interface HelloRequestMsg {
  name: string;
  payload: Buffer;
}

export interface HelloReplyMsg {
  message: string;
  pod: string;
  index: number;
  payload: Buffer;
}

/** HelloRequest { string name = 1; bytes payload = 2; } (proto3: empty fields are not written). */
export function encodeHelloRequest(m: HelloRequestMsg): Buffer {
  return Buffer.concat([...lenField(1, Buffer.from(m.name, 'utf8')), ...lenField(2, m.payload)]);
}

/** HelloReply { string message = 1; string pod = 2; int32 index = 3; map metadata = 4 (not written); bytes payload = 5; } */
export function encodeHelloReply(m: HelloReplyMsg): Buffer {
  const parts = [...lenField(1, Buffer.from(m.message, 'utf8')), ...lenField(2, Buffer.from(m.pod, 'utf8'))];
  if (m.index !== 0) parts.push(Buffer.from([...varint((3 << 3) | WIRE_VARINT), ...varint(m.index)]));
  parts.push(...lenField(5, m.payload));
  return Buffer.concat(parts);
}

/** Length-delimited and varint fields by number; other wire types are skipped as protobuf requires. */
function decodeFields(buf: Uint8Array): Map<number, Buffer | number> {
  const out = new Map<number, Buffer | number>();
  for (let at = 0; at < buf.length; ) {
    let key: number;
    [key, at] = readVarint(buf, at);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === WIRE_VARINT) {
      let v: number;
      [v, at] = readVarint(buf, at);
      out.set(field, v);
    } else if (wire === WIRE_LEN) {
      let len: number;
      [len, at] = readVarint(buf, at);
      if (at + len > buf.length) throw new Error('protobuf: truncated field');
      out.set(field, Buffer.from(buf.buffer, buf.byteOffset + at, len));
      at += len;
    } else if (wire === WIRE_I64) at += 8;
    else if (wire === WIRE_I32) at += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
  return out;
}

const str = (v: Buffer | number | undefined): string => (Buffer.isBuffer(v) ? v.toString('utf8') : '');
const bytes = (v: Buffer | number | undefined): Buffer => (Buffer.isBuffer(v) ? v : Buffer.alloc(0));

export function decodeHelloRequest(buf: Uint8Array): HelloRequestMsg {
  const f = decodeFields(buf);
  return { name: str(f.get(1)), payload: bytes(f.get(2)) };
}

export function decodeHelloReply(buf: Uint8Array): HelloReplyMsg {
  const f = decodeFields(buf);
  const index = f.get(3);
  return { message: str(f.get(1)), pod: str(f.get(2)), index: typeof index === 'number' ? index | 0 : 0, payload: bytes(f.get(5)) };
}

/** One gRPC message on the wire: uncompressed flag, 4-byte big-endian length, the message. */
export function frameMessage(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** Reassembles length-prefixed messages from a byte stream split anywhere; compressed messages are refused. */
export class MessageReader {
  #pending: Buffer = Buffer.alloc(0);

  /** Feed a chunk; returns the messages it completed (possibly none). */
  push(chunk: Buffer): Buffer[] {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const out: Buffer[] = [];
    while (buf.length >= 5) {
      if (buf[0] !== 0) throw new Error(`gRPC: compressed flag ${buf[0]} (the bench sends and expects uncompressed messages)`);
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      out.push(buf.subarray(5, 5 + len));
      buf = buf.subarray(5 + len);
    }
    this.#pending = buf;
    return out;
  }

  /** Bytes of an unfinished message held back (non-zero at the end of a stream = a truncated message). */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}
