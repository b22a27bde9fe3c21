// What the proxy remembers across requests must not pin the requests' heads: the parsers hand out fields as
// slices of the head's string, and V8 keeps a slice's parent alive. A client cycling Host values through the
// 1,024-entry target cache, each in a 60 KB head, would otherwise hold ~60 MB (proxy/src/own-string.ts).

import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = resolve(__dirname, '..', 'proxy', 'dist');

function heapGrowthMb(useCache: boolean): number {
  const script = `
    const { TargetCache } = await import(${JSON.stringify(resolve(DIST, 'target-cache.js'))});
    const { compileAllowlist } = await import(${JSON.stringify(resolve(DIST, 'hosts.js'))});
    const cache = new TargetCache(compileAllowlist(['*.example.com']), 443);
    const kept = [];
    gc(); const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) {
      // One head per request: a 60 KB string, the Host value a slice of it (as the parser hands it out).
      const head = 'GET / HTTP/1.1\\r\\nhost: h' + i + '.example.com\\r\\nx-pad: ' + 'x'.repeat(60000) + String(i) + '\\r\\n\\r\\n';
      const start = head.indexOf('host: ') + 6;
      const host = head.slice(start, head.indexOf('\\r\\n', start));
      ${useCache ? 'cache.resolve("/", host);' : 'kept.push(host);'}
    }
    gc(); const after = process.memoryUsage().heapUsed;
    process.stdout.write(String((after - before) / 1048576));
  `;
  return Number(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('remembered strings do not pin request heads', () => {
  it('the harness sees the retention when slices are kept as they are', () => {
    // The control: without a copy, 1,000 slices keep 1,000 heads (~60 MB) alive.
    expect(heapGrowthMb(false)).toBeGreaterThan(40);
  });
  it('1,000 Host values sliced from 60 KB heads cost the target cache under 5 MB in all', () => {
    expect(heapGrowthMb(true)).toBeLessThan(5);
  });
});
