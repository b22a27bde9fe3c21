// nginx in two roles, each a foreground single process (`master_process off`, so its one PID carries all
// the CPU time we account) with its own prefix directory:
// - the upstream: HTTPS with a certificate from the bench CA, `return 200`, long keep-alive; it logs one line
//   per new client connection (the first request on it) and nothing else, so the bench can count the
//   upstream connections every target opened (stub_status would also count nginx's own connections to the
//   internal body sink);
// - the reference: a non-signing re-encrypting reverse proxy (HTTP in, HTTPS with upstream keep-alive out),
//   the "what is physically possible per core" line the signing proxy is compared with.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPinned, waitFor, type Child } from './proc.js';
import { connect } from 'node:net';

export const BENCH_HOST = 'bench.example.com';

function common(prefix: string): string {
  return `worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 8192; multi_accept on; }
`;
}

function httpCommon(prefix: string): string {
  return `  access_log off;
  default_type text/plain;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_max_body_size 0;
  client_body_buffer_size 128k;
  client_body_temp_path ${join(prefix, 'body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
`;
}

/** http2: the listener also offers h2 by ALPN (as a Lattice HTTPS listener does); HTTP/1.1 clients are unaffected. */
export function upstreamConfig(prefix: string, port: number, certFile: string, keyFile: string, http2 = false): string {
  return `${common(prefix)}http {
${httpCommon(prefix)}  log_format bench_conn '$connection';
  map $connection_requests $bench_first_request { 1 1; default 0; }
  server {
    access_log ${connectionLog(prefix)} bench_conn if=$bench_first_request;
    listen 127.0.0.1:${port} ssl${http2 ? ' http2' : ''} reuseport backlog=4096;
    server_name ${BENCH_HOST};
    ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:4m;
    location / { return 200 "ok\\n"; }
    # POST: nginx's \`return\` answers before a streamed body has arrived, which is not how an app behaves
    # and makes clients drop the connection. Proxying (request buffering on) reads the whole body first.
    location /upload {
      proxy_pass http://sink;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  upstream sink {
    server unix:${join(prefix, 'sink.sock')};
    keepalive 16;
  }
  server {
    listen unix:${join(prefix, 'sink.sock')};
    location / { return 200 "ok\\n"; }
  }
}
`;
}

function connectionLog(prefix: string): string {
  return join(prefix, 'connections.log');
}

/** Connections the upstream has seen a first request on so far (one unbuffered log line each). */
export function upstreamConnectionCount(prefix: string): number {
  try {
    const text = readFileSync(connectionLog(prefix), 'latin1');
    let n = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
    return n;
  } catch {
    return 0; // no connection yet: nginx creates the file on the first line
  }
}

export function referenceProxyConfig(prefix: string, port: number, upstreamPort: number, caFile: string): string {
  return `${common(prefix)}http {
${httpCommon(prefix)}  upstream lattice {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / {
      proxy_pass https://lattice;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${caFile};
      proxy_ssl_server_name on;
      proxy_ssl_name ${BENCH_HOST};
      proxy_ssl_session_reuse on;
    }
  }
}
`;
}

// gRPC reference (bench/lib/grpc-bench.ts): the proxy's gRPC job minus the signing. h2c with prior knowledge in
// (what an app's insecure gRPC channel speaks), h2 over TLS out to the gRPC upstream (ALPN h2), its certificate
// verified against the bench CA with SNI, upstream keep-alive; 256 streams per app connection, as the proxy's h2c
// listener allows. nginx's grpc module opens one upstream connection per stream in flight (it does not
// multiplex streams upstream): that is how nginx does this job, so it stays.
export function grpcReferenceConfig(prefix: string, port: number, upstreamPort: number, caFile: string): string {
  return `${common(prefix)}http {
${httpCommon(prefix)}  upstream lattice_grpc {
    server 127.0.0.1:${upstreamPort};
    keepalive 256;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} http2 reuseport backlog=4096;
    http2_max_concurrent_streams 256;
    location / {
      grpc_pass grpcs://lattice_grpc;
      grpc_set_header Host $host;
      grpc_ssl_verify on;
      grpc_ssl_trusted_certificate ${caFile};
      grpc_ssl_server_name on;
      grpc_ssl_name ${BENCH_HOST};
      grpc_ssl_session_reuse on;
    }
  }
}
`;
}

/** Write `config` under `prefix` and run nginx in the foreground pinned to `core`; resolves once it listens. */
export async function startNginx(name: string, prefix: string, config: string, port: number, core: number): Promise<Child> {
  mkdirSync(prefix, { recursive: true, mode: 0o755 });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, config);
  const child = startPinned(name, core, 'nginx', ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log'), '-g', 'daemon off; master_process off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(`${name} (nginx on 127.0.0.1:${port})`, () => tcpOpen(port), 10_000, child.exited);
  return child;
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
