// npm run soak -- --minutes N [--rate R] [--connections C] [--max-slope MiB/min] [--json file]
//
// Steady load through the built proxy against the local emulators (loopback only, rate-limited, bounded in
// time). Prints rps, errors, RSS and file descriptors every 10 s, then a JSON summary and a verdict: it fails
// on any error, on a proxy exit, on an unsigned request reaching upstream, when RSS keeps rising over the
// second half of the run (least-squares slope above --max-slope; default 10 MiB/min under 5 minutes, else 2:
// see defaultMaxSlope in test/fuzz/soak-run.ts), or on sockets past their bounds (test/fuzz/socket-census.ts).

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runSoak } from '../test/fuzz/soak-run.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    rate: { type: 'string', default: '200' },
    connections: { type: 'string', default: '8' },
    'max-slope': { type: 'string' },
    json: { type: 'string' },
  },
});

function num(name: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`soak: --${name} must be a number between ${min} and ${max}, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

const minutes = num('minutes', values.minutes, 0.1, 24 * 60);
const rate = num('rate', values.rate, 1, 5_000);
const connections = num('connections', values.connections, 1, 256);
const maxSlope = values['max-slope'] === undefined ? undefined : num('max-slope', values['max-slope'], 0, 1_000);

console.log(`soak: ${minutes} min at ${rate} req/s over ${connections} connections through the built proxy (loopback emulators)`);
const result = await runSoak({ seconds: minutes * 60, rate, connections, maxRssSlopeMiBPerMin: maxSlope });
const { samples, ...summary } = result;
console.log(JSON.stringify({ ...summary, rssEveryTenSeconds: samples.filter((_, i) => (i + 1) % 10 === 0).map((s) => [Math.round(s.t), Number(s.rssMiB.toFixed(1)), s.census.total]) }, null, 2));
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
console.log(result.ok ? 'soak: PASS' : `soak: FAIL (${result.reasons.join('; ')})`);
process.exit(result.ok ? 0 : 1);
