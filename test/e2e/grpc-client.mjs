// The app side of the e2e's gRPC checks: a plain @grpc/grpc-js client with insecure channel credentials, as an app
// behind the capture runs it (the runner starts it as uid/gid 1000 inside a pod namespace). It makes one unary Hello
// and one bidirectional Chat (each message answered before the next is sent) and prints ONE JSON line:
//   {"target":..,"authority":..,"address":..,"hello":{"code":0,"status":"OK",...},"chat":{"code":0,"replies":[..],...}}
// Plain JavaScript: it runs from the staged copy (test/e2e/stage.ts) with only grpc-js and proto-loader beside it.
//
// node grpc-client.mjs --proto demo.proto --host grpc-cluster2.example.com [--port 80] [--family 4|6] [--name N]
//                      [--messages 3] [--deadline-ms 10000]
//   no --family: target dns:///HOST:PORT, grpc-js resolves it (getaddrinfo, so /etc/hosts) and picks the address;
//   --family 4|6: the client resolves HOST in that family itself (as curl -4/-6 does) and dials that address with
//   the same authority, so the call takes the iptables or the ip6tables path.
import { promises as dns } from 'node:dns';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const { values: args } = parseArgs({
  options: {
    proto: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string', default: '80' },
    family: { type: 'string' },
    name: { type: 'string', default: 'e2e' },
    messages: { type: 'string', default: '3' },
    'deadline-ms': { type: 'string', default: '10000' },
  },
});
if (!args.proto || !args.host) {
  process.stderr.write('usage: grpc-client.mjs --proto FILE --host HOST [--port 80] [--family 4|6] [--name N] [--messages 3]\n');
  process.exit(2);
}
const deadlineMs = Number(args['deadline-ms']);
const statusName = (code) => Object.keys(grpc.status).find((k) => grpc.status[k] === code) ?? String(code);
/** Text metadata names and values worth reporting (never an authorization or token: the target never gets them). */
const mdObject = (md) => (md ? Object.fromEntries(Object.entries(md.getMap()).filter(([, v]) => typeof v === 'string')) : {});

function outcome(err, extra) {
  if (!err) return { code: 0, status: 'OK', details: '', ...extra };
  return { code: err.code, status: statusName(err.code), details: err.details, metadata: mdObject(err.metadata), ...extra };
}

function hello(client) {
  return new Promise((resolve) => {
    let reply;
    let error = null;
    let status;
    let headers;
    let pending = 2;
    const done = () => {
      if (--pending > 0) return;
      resolve(
        outcome(error, {
          message: reply?.message,
          pod: reply?.pod,
          // What the target received, as it echoes it: Lattice's identity header, and whether any credential got through.
          targetSaw: reply
            ? {
                latticeIdentity: reply.metadata['x-amzn-lattice-identity'],
                authorization: 'authorization' in reply.metadata,
                securityToken: 'x-amz-security-token' in reply.metadata,
                amzDate: 'x-amz-date' in reply.metadata,
              }
            : undefined,
          headers,
          trailers: error ? undefined : mdObject(status?.metadata),
        }),
      );
    };
    const call = client.Hello({ name: args.name }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, r) => {
      error = err;
      reply = r;
      done();
    });
    // Response headers arrive on a refusal too (Lattice's 403 carries x-amzn-errortype): they say who answered.
    call.on('metadata', (md) => (headers = mdObject(md)));
    call.on('status', (s) => {
      status = s;
      done();
    });
  });
}

/** Bidirectional: message i is sent only once reply i-1 came back, so both directions stay open together. */
function chat(client, count) {
  return new Promise((resolve) => {
    const replies = [];
    const call = client.Chat(new grpc.Metadata(), { deadline: Date.now() + deadlineMs });
    let error = null;
    let headers;
    let sent = 0;
    const sendNext = () => {
      if (sent < count) call.write({ name: `${args.name}-${++sent}` });
      else call.end();
    };
    call.on('metadata', (md) => (headers = mdObject(md)));
    call.on('data', (m) => {
      replies.push(m.message);
      sendNext();
    });
    call.on('error', (err) => (error = err));
    call.on('status', (s) => resolve(outcome(error, { sent, replies, headers, trailers: error ? undefined : mdObject(s.metadata) })));
    sendNext();
  });
}

async function main() {
  const definition = protoLoader.loadSync(args.proto, { keepCase: true, longs: Number, defaults: true });
  const { Demo } = grpc.loadPackageDefinition(definition).lattice.demo.v1;
  const authority = `${args.host}:${args.port}`;
  let target = `dns:///${authority}`;
  let address;
  const options = { 'grpc.service_config_disable_resolution': 1 };
  if (args.family === '4' || args.family === '6') {
    ({ address } = await dns.lookup(args.host, { family: Number(args.family) }));
    target = args.family === '4' ? `ipv4:${address}:${args.port}` : `ipv6:[${address}]:${args.port}`;
    // An IP target's authority would be the address: keep the one the name gives, as the DNS target does.
    options['grpc.default_authority'] = authority;
  }
  const client = new Demo(target, grpc.credentials.createInsecure(), options);
  try {
    const h = await hello(client);
    const c = await chat(client, Number(args.messages));
    process.stdout.write(JSON.stringify({ target, authority, address, hello: h, chat: c }) + '\n');
  } finally {
    client.close();
  }
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err?.stack ?? err) }) + '\n');
  process.exit(1);
});
