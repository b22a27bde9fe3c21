// npm run fuzz [-- --seed N] [--requests N] [--responses N] [--max-seconds S] [--replay request:INDEX|response:INDEX]
//
// The differential fuzzer of the HTTP/1.1 parsers (issue 11, test/fuzz/README.md): request streams against
// node:http's llhttp, response streams against undici's llhttp, every stream also cut at random boundaries.
// Exits 0 only when every planned stream ran and none was accepted by ours and refused (or read differently)
// by llhttp. FUZZ_SEED in the environment is the same as --seed.

import { parseArgs } from 'node:util';
import { requestCase, REQUEST_LIMITS, RESPONSE_LIMITS, runRequestCase, runRequests, runResponseCase, runResponses } from '../test/fuzz/differential/campaign.js';
import { NodeRequestOracle } from '../test/fuzz/differential/node-llhttp.js';
import { caseRandom, freshSeed } from '../test/fuzz/differential/random.js';
import { describeFailure, formatTally, hexDump, type Tally } from '../test/fuzz/differential/report.js';
import { responseCase, responseSweep, responseSweepSize } from '../test/fuzz/differential/response-streams.js';
import { UndiciResponseOracle } from '../test/fuzz/differential/undici-llhttp.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    requests: { type: 'string', default: '200000' },
    responses: { type: 'string', default: '100000' },
    'max-seconds': { type: 'string', default: '1200' },
    replay: { type: 'string' },
  },
});

function integer(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`fuzz: --${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

const seedText = values.seed ?? process.env.FUZZ_SEED;
const seed = seedText === undefined ? freshSeed() : integer('seed', seedText) >>> 0;

/** A reading as JSON, body pieces shown as latin1 text (Buffer#toJSON would list their bytes). */
function json(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown) => {
      const b = x as { type?: unknown; data?: unknown };
      return b !== null && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data) ? Buffer.from(b.data as number[]).toString('latin1') : x;
    },
    2,
  );
}

function replay(spec: string): number {
  const m = /^(request|response):(\d+)$/.exec(spec);
  if (!m) {
    console.error('fuzz: --replay takes request:INDEX or response:INDEX');
    return 2;
  }
  const index = Number(m[2]);
  if (m[1] === 'request') {
    const c = requestCase(seed, index, true);
    const res = runRequestCase(c, new NodeRequestOracle(REQUEST_LIMITS.maxHeaderSize));
    console.log(`request case ${index} of seed ${seed}: ${c.origin}, ${c.stream.family}, ${c.bytes.length} bytes\n${hexDump(c.bytes, 1 << 20)}`);
    console.log(`\nllhttp (node:http):\n${json(res.oracle)}\n\nours (whole stream):\n${json(res.whole)}\n\nverdict: ${res.verdict.category}${res.verdict.reason ? ` (${res.verdict.reason})` : ''}`);
    for (const p of res.problems) console.log(`FAIL ${p}`);
    return res.problems.length > 0 ? 1 : 0;
  }
  const r = caseRandom(seed, index);
  const c = index < responseSweepSize() ? responseSweep(index, r) : responseCase(r);
  const res = runResponseCase(c, new UndiciResponseOracle(RESPONSE_LIMITS.maxHeaderSize), r);
  console.log(`response case ${index} of seed ${seed}: ${c.origin}, ${c.family}${c.eof ? ', EOF after the last exchange' : ''}`);
  c.exchanges.forEach((e, i) => console.log(`exchange ${i + 1}${e.head ? ' (HEAD)' : ''}:\n${hexDump(e.bytes, 1 << 20)}`));
  console.log(`\nllhttp (undici):\n${json(res.oracle)}\n\nours (whole exchanges):\n${json(res.whole)}\n\nverdict: ${res.verdict.category}${res.verdict.reason ? ` (${res.verdict.reason})` : ''}`);
  for (const p of res.problems) console.log(`FAIL ${p}`);
  return res.problems.length > 0 ? 1 : 0;
}

function main(): number {
  if (values.replay !== undefined) return replay(values.replay);
  const requests = integer('requests', values.requests);
  const responses = integer('responses', values.responses);
  const maxSeconds = integer('max-seconds', values['max-seconds']);
  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  console.log(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed}); ${requests} request and ${responses} response streams, at most ${maxSeconds} s`);
  const tallies: Tally[] = [];
  const cpu = process.cpuUsage();
  tallies.push(runRequests({ seed, count: requests, sweep: true, deadline }));
  console.log(formatTally(tallies[0]!, seed));
  tallies.push(runResponses({ seed, count: responses, sweep: true, deadline }));
  console.log(formatTally(tallies[1]!, seed));
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const ran = tallies.reduce((n, t) => n + t.ran, 0);
  const elapsed = (performance.now() - started) / 1000;
  console.log(`fuzz: ${ran} streams in ${elapsed.toFixed(1)} s (${Math.round(ran / elapsed)} streams/s; ${cpuSeconds.toFixed(1)} CPU s, ${Math.round(ran / cpuSeconds)} streams per CPU second)`);
  let status = 0;
  for (const t of tallies) {
    for (const f of t.failures) console.log(describeFailure(f));
    if (t.failureCount > t.failures.length) console.log(`... and ${t.failureCount - t.failures.length} more ${t.side} disagreements (replay the run to list them)`);
    if (t.failureCount > 0) status = 1;
    if (t.ran < t.planned) {
      console.log(`fuzz: stopped at the time bound: ${t.ran} of ${t.planned} ${t.side} streams ran`);
      if (status === 0) status = 3;
    }
  }
  console.log(status === 0 ? 'fuzz: PASS, no disagreement' : `fuzz: FAIL (seed ${seed})`);
  return status;
}

process.exitCode = main();
