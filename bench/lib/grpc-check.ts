// Real grpc-js calls through one gRPC target before it is loaded: h2load counts HTTP statuses only, and a gRPC
// failure is an HTTP 200 with a non-zero grpc-status, so this is what shows the calls end with grpc-status 0 and
// the replies decode as the proto says (which also checks the upstream's hand-written encoding,
// bench/lib/grpc-wire.ts, against grpc-js and protobufjs). `--unary N` Hello calls, then one Chat call
// exchanging `--chat N` messages. Prints one JSON line (GrpcCheckResult); exits 0 even when a call failed
// (the bench reports it).
//
// Usage: node --import tsx bench/lib/grpc-check.ts --address 127.0.0.1:PORT --authority bench.example.com [--ca ca.pem] [--unary 5] [--chat 5]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadDemoPackage, type HelloReply } from '../../test/emulators/grpc-target.js';
import { GREETING_PREFIX, UPSTREAM_POD } from './grpc-wire.js';

export interface GrpcCheckResult {
  unary: { calls: number; ok: number };
  chat: { sent: number; received: number; status: number | null };
  /** What went wrong, one line per failed call or bad reply; empty when everything succeeded. */
  failures: string[];
}

interface DemoClient extends grpc.Client {
  Hello(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: HelloReply) => void): grpc.ClientUnaryCall;
  Chat(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<object, HelloReply>;
}

const { values } = parseArgs({ options: { address: { type: 'string' }, authority: { type: 'string' }, ca: { type: 'string' }, unary: { type: 'string', default: '5' }, chat: { type: 'string', default: '5' } } });
const unaryCalls = Number(values.unary);
const chatMessages = Number(values.chat);
const DEADLINE_MS = 10_000;

const creds = values.ca ? grpc.credentials.createSsl(readFileSync(values.ca)) : grpc.credentials.createInsecure();
const options: grpc.ChannelOptions = { 'grpc.default_authority': values.authority!, ...(values.ca ? { 'grpc.ssl_target_name_override': values.authority! } : {}) };
const client = new (loadDemoPackage().Demo)(values.address!, creds, options) as unknown as DemoClient;
const failures: string[] = [];

function checkReply(what: string, r: HelloReply | undefined, name: string, index: number, payload: Buffer): boolean {
  const want = `${GREETING_PREFIX}, ${name}`;
  if (!r) failures.push(`${what}: no reply`);
  else if (r.message !== want || r.pod !== UPSTREAM_POD || r.index !== index || !Buffer.from(r.payload).equals(payload)) {
    failures.push(`${what}: unexpected reply ${JSON.stringify({ message: r.message, pod: r.pod, index: r.index, payloadBytes: r.payload.length })}`);
  } else return true;
  return false;
}

function hello(i: number): Promise<boolean> {
  const payload = Buffer.alloc(i * 7, i);
  return new Promise((resolve) => {
    client.Hello({ name: `check-${i}`, payload }, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, r) => {
      if (err) {
        failures.push(`Hello #${i}: ${grpc.status[err.code] ?? err.code} ${err.details}`);
        resolve(false);
      } else resolve(checkReply(`Hello #${i}`, r, `check-${i}`, 0, payload));
    });
  });
}

/** One bidirectional call: each message is sent after the previous reply arrived, then the client ends. */
function chat(): Promise<GrpcCheckResult['chat']> {
  return new Promise((resolve) => {
    const call = client.Chat(new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    let received = 0;
    const send = (): void => {
      if (received < chatMessages) call.write({ name: `chat-${received}`, payload: Buffer.alloc(received, 0x63) });
      else call.end();
    };
    call.on('data', (r: HelloReply) => {
      checkReply(`Chat message ${received}`, r, `chat-${received}`, received, Buffer.alloc(received, 0x63));
      received++;
      send();
    });
    call.on('error', (err: grpc.ServiceError) => failures.push(`Chat: ${grpc.status[err.code] ?? err.code} ${err.details}`));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) failures.push(`Chat ended with ${grpc.status[s.code] ?? s.code} ${s.details}`);
      resolve({ sent: chatMessages, received, status: s.code });
    });
    send();
  });
}

let ok = 0;
for (let i = 0; i < unaryCalls; i++) if (await hello(i)) ok++;
const chatResult = chatMessages > 0 ? await chat() : { sent: 0, received: 0, status: null };
if (chatResult.received !== chatResult.sent) failures.push(`Chat: ${chatResult.received} of ${chatResult.sent} replies`);
client.close();
const result: GrpcCheckResult = { unary: { calls: unaryCalls, ok }, chat: chatResult, failures };
process.stdout.write(JSON.stringify(result) + '\n');
