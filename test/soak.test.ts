// Issue 7, soak (the CI version): 60 seconds of steady load through the built proxy against the emulators.
// Fails on any error, on an unsigned request reaching upstream, on a proxy exit, on requests left in flight,
// on RSS that keeps rising, on sockets past their structural bounds (the app's connections, the upstream pool
// per origin), on non-socket fds that climb, or on CLOSE_WAIT. `npm run soak -- --minutes 10` is the long one.

import { describe, expect, it } from 'vitest';
import { runSoak } from './fuzz/soak-run.js';

const SECONDS = 60;

describe('soak', () => {
  it(`${SECONDS} s of steady load: no error, no leak`, async () => {
    const r = await runSoak({ seconds: SECONDS, rate: 150, connections: 8, reportEverySeconds: 10 });
    console.log(
      `soak: ${r.requests} requests in ${r.seconds} s (${r.rps.toFixed(0)} req/s), ${r.errors} errors; RSS ${r.rssMiB.start.toFixed(1)} → ${r.rssMiB.end.toFixed(1)} MiB ` +
        `(second-half slope ${r.rssSlopeMiBPerMin.toFixed(2)} MiB/min, limit ${r.maxRssSlopeMiBPerMin}); fds ${r.fds.start} → ${r.fds.end} (after the app closed: app ${r.afterClose?.app}, upstream pool ${r.afterClose?.upstream}); upstream ${r.upstream.requests}, unsigned ${r.upstream.unsigned}`,
    );
    expect(r.errorSamples).toEqual([]);
    expect(r.reasons).toEqual([]);
    expect(r.ok).toBe(true);
  }, (SECONDS + 60) * 1000);
});
