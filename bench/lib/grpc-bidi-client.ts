// The bidirectional-stream load (h2load cannot drive one): `--calls` HTTP/2 connections, one long Chat call on
// each, every call sending a message as soon as the reply to the previous one arrived (ping-pong, closed loop),
// for `--warmup` + `--seconds`; then each call ends its side and waits for grpc-status in the trailers. Every
// reply is decoded and checked (greeting, index in sequence, payload echoed). Latency = one message's round
// trip, from the write to its reply, measured after the warm-up. node:http2 with the wire code of grpc-wire.ts
// (grpc-js costs more CPU on the load core; bench/lib/grpc-check.ts makes the grpc-js Chat call first).
// Prints one JSON line (GrpcBidiClientResult).
//
// Usage: node --import tsx bench/lib/grpc-bidi-client.ts --url http://127.0.0.1:PORT --authority bench.example.com
//        [--ca ca.pem (https)] [--calls 16] [--seconds 10] [--warmup 1] [--payload-bytes 64]

import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { parseArgs } from 'node:util';
import { CHAT_PATH, decodeHelloReply, encodeHelloRequest, frameMessage, GREETING_PREFIX, MessageReader } from './grpc-wire.js';
import { latencySummary, type LatencySummary } from './grpc-stats.js';

export interface GrpcBidiClientResult {
  calls: number;
  /** Calls that ended with grpc-status 0 after the client ended its side. */
  callsOk: number;
  /** grpc-status values the calls ended with ("none": reset or no status). */
  statuses: Record<string, number>;
  /** Round trips completed in the measured window, and in all (warm-up included). */
  messages: number;
  messagesTotal: number;
  seconds: number;
  messagesPerSecond: number;
  latency_us: LatencySummary;
  /** Replies that did not decode to what the upstream should have answered. */
  badReplies: number;
  /** This client's own CPU time from the start of the load to its end (µs): its share of the load core. */
  clientCpuUs: number;
  errors: string[];
}

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    authority: { type: 'string' },
    ca: { type: 'string' },
    calls: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    'payload-bytes': { type: 'string', default: '64' },
  },
});
const url = new URL(values.url!);
const calls = Number(values.calls);
const authority = values.authority!;
const payload = Buffer.alloc(Number(values['payload-bytes']), 0x62);
const request = frameMessage(encodeHelloRequest({ name: 'bidi', payload }));
const wantMessage = `${GREETING_PREFIX}, bidi`;
const started = performance.now();
const measureFrom = started + Number(values.warmup) * 1000;
const stopAt = measureFrom + Number(values.seconds) * 1000;
const END_WAIT_MS = 10_000;

const latencies: number[] = [];
let messagesTotal = 0;
let badReplies = 0;
let callsOk = 0;
const statuses: Record<string, number> = {};
const errors: string[] = [];
const noteError = (e: string): void => {
  if (errors.length < 20) errors.push(e);
};

function runCall(i: number): Promise<void> {
  return new Promise((resolve) => {
    const session: ClientHttp2Session = connect(url, url.protocol === 'https:' ? { ca: readFileSync(values.ca!), servername: authority } : {});
    session.on('error', (e: Error) => noteError(`call ${i} session: ${e.message}`));
    const stream: ClientHttp2Stream = session.request({ ':method': 'POST', ':path': CHAT_PATH, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' });
    const reader = new MessageReader();
    let index = 0;
    let sentAt = 0;
    let status: string | undefined;
    let ended = false;
    const finish = (): void => {
      statuses[status ?? 'none'] = (statuses[status ?? 'none'] ?? 0) + 1;
      if (status === '0') callsOk++;
      session.close();
      resolve();
    };
    const send = (): void => {
      const now = performance.now();
      if (now >= stopAt) {
        ended = true;
        stream.end();
        return;
      }
      sentAt = now;
      stream.write(request);
    };
    stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); // trailers-only answer: the call failed
    });
    stream.on('trailers', (t) => (status = t['grpc-status'] === undefined ? undefined : String(t['grpc-status'])));
    stream.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = reader.push(chunk);
      } catch (e) {
        noteError(`call ${i}: ${(e as Error).message}`);
        stream.close();
        return;
      }
      for (const m of msgs) {
        const now = performance.now();
        const r = decodeHelloReply(m);
        if (r.message !== wantMessage || r.index !== index || !r.payload.equals(payload)) {
          badReplies++;
          noteError(`call ${i}: reply ${index} was ${JSON.stringify({ message: r.message, index: r.index, payloadBytes: r.payload.length })}`);
        }
        index++;
        messagesTotal++;
        if (sentAt >= measureFrom && now <= stopAt) latencies.push((now - sentAt) * 1000);
        if (!ended) send();
      }
    });
    stream.on('error', (e: Error) => noteError(`call ${i} stream: ${e.message}`));
    stream.on('close', finish);
    // A call that never ends (the target stopped relaying) must not hang the run.
    setTimeout(() => {
      if (!stream.closed) {
        noteError(`call ${i}: no end within ${END_WAIT_MS} ms of the deadline`);
        stream.close();
      }
    }, stopAt - performance.now() + END_WAIT_MS).unref();
    send();
  });
}

const cpu0 = process.cpuUsage();
await Promise.all(Array.from({ length: calls }, (_, i) => runCall(i)));
const cpu = process.cpuUsage(cpu0);
const seconds = (stopAt - measureFrom) / 1000;
const result: GrpcBidiClientResult = {
  calls,
  callsOk,
  statuses,
  messages: latencies.length,
  messagesTotal,
  seconds,
  messagesPerSecond: Math.round(latencies.length / seconds),
  latency_us: latencySummary(latencies),
  badReplies,
  clientCpuUs: cpu.user + cpu.system,
  errors,
};
process.stdout.write(JSON.stringify(result) + '\n');
