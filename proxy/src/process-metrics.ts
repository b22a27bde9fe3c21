// The process metrics Prometheus' Node clients export by convention (process_*, nodejs_*), read at scrape
// time from /proc and the runtime.
//
// Not prom-client's collectDefaultMetrics: its CPU counter requires @opentelemetry/api for exemplars, which
// costs ~6.7 MB of RSS (measured: 45.3 MB for Node with tls/http/net and prom-client's registry, 51.6 MB with
// that one metric module), a ninth of the sidecar's budget; and its event-loop-lag metric keeps a 10 ms
// sampling timer running in every pod. Here the lag is measured when scraped, and nothing runs between scrapes.

import { readdirSync, readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

export interface ProcessSample {
  value: number;
  labels: Record<string, string | number>;
}

export interface ProcessMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly samples: () => ProcessSample[] | Promise<ProcessSample[]>;
}

function statusKb(status: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

function readStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}

function openFds(): number | undefined {
  try {
    // The directory listing itself holds one descriptor open.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const one = (value: number | undefined): ProcessSample[] => (value === undefined ? [] : [{ value, labels: {} }]);

/** The metrics, names without the `lattice_proxy_` prefix (the caller adds it). */
export function processMetrics(): ProcessMetric[] {
  const startTime = Math.round(Date.now() / 1000 - process.uptime());
  return [
    { name: 'process_cpu_user_seconds_total', help: 'Total user CPU time spent in seconds.', type: 'counter', samples: () => one(process.cpuUsage().user / 1e6) },
    { name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', type: 'counter', samples: () => one(process.cpuUsage().system / 1e6) },
    {
      name: 'process_cpu_seconds_total',
      help: 'Total user and system CPU time spent in seconds.',
      type: 'counter',
      samples: () => {
        const u = process.cpuUsage();
        return one((u.user + u.system) / 1e6);
      },
    },
    { name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', type: 'gauge', samples: () => one(startTime) },
    { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', samples: () => one(statusKb(readStatus(), 'VmRSS') ?? process.memoryUsage.rss()) },
    { name: 'process_virtual_memory_bytes', help: 'Virtual memory size in bytes.', type: 'gauge', samples: () => one(statusKb(readStatus(), 'VmSize')) },
    { name: 'process_heap_bytes', help: 'Process heap size in bytes.', type: 'gauge', samples: () => one(statusKb(readStatus(), 'VmData')) },
    { name: 'process_open_fds', help: 'Number of open file descriptors.', type: 'gauge', samples: () => one(openFds()) },
    { name: 'process_max_fds', help: 'Maximum number of open file descriptors.', type: 'gauge', samples: () => one(maxFds()) },
    { name: 'nodejs_heap_size_total_bytes', help: 'Process heap size from Node.js in bytes.', type: 'gauge', samples: () => one(getHeapStatistics().total_heap_size) },
    { name: 'nodejs_heap_size_used_bytes', help: 'Process heap size used from Node.js in bytes.', type: 'gauge', samples: () => one(getHeapStatistics().used_heap_size) },
    { name: 'nodejs_external_memory_bytes', help: 'Node.js external memory size in bytes.', type: 'gauge', samples: () => one(process.memoryUsage().external) },
    {
      name: 'nodejs_eventloop_lag_seconds',
      help: 'Lag of the event loop in seconds, measured when scraped (the delay of a setImmediate callback).',
      type: 'gauge',
      samples: () =>
        new Promise<ProcessSample[]>((resolve) => {
          const start = process.hrtime.bigint();
          setImmediate(() => resolve(one(Number(process.hrtime.bigint() - start) / 1e9)));
        }),
    },
    {
      name: 'nodejs_version_info',
      help: 'Node.js version info.',
      type: 'gauge',
      samples: () => {
        const [major, minor, patch] = process.versions.node.split('.').map(Number);
        return [{ value: 1, labels: { version: process.version, major: major!, minor: minor!, patch: patch! } }];
      },
    },
  ];
}
