// Every relative link in README.md and docs/** points at a file that exists, and every #anchor at a heading
// of its target, so moving or renaming a page or a section cannot leave the front door pointing nowhere.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { headingAnchors, markdownLinks } from './helpers/markdown.js';
import { repoRoot } from './k8s/helm.js';

// Pages other engineers add on their branches. Listed only while missing: once the file exists its links and
// anchors are checked like any other, and the entry is dead weight (the test below says so).
const PENDING: string[] = [];

function markdownFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return markdownFiles(p);
    return name.endsWith('.md') ? [p] : [];
  });
}

/** Problems of one file's relative links, as "file:line: message" lines (empty when all resolve). */
function brokenLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const rel = path.relative(repoRoot, file);
  const problems: string[] = [];
  for (const { line, target } of markdownLinks(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not checked offline
    const hash = target.indexOf('#');
    const filePart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved = filePart === '' ? file : path.resolve(path.dirname(file), filePart);
    const repoPath = path.relative(repoRoot, resolved);
    if (!existsSync(resolved)) {
      if (!PENDING.includes(repoPath)) problems.push(`${rel}:${line}: ${target}: ${repoPath} does not exist`);
      continue;
    }
    if (anchor !== undefined && anchor !== '') {
      if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) {
        problems.push(`${rel}:${line}: ${target}: an anchor into a file that is not Markdown`);
      } else if (!headingAnchors(readFileSync(resolved, 'utf8')).has(anchor)) {
        problems.push(`${rel}:${line}: ${target}: ${repoPath} has no heading with anchor #${anchor}`);
      }
    }
  }
  return problems;
}

const FILES = [path.join(repoRoot, 'README.md'), ...markdownFiles(path.join(repoRoot, 'docs'))];

describe('documentation links', () => {
  it('finds the README and the docs pages', () => {
    expect(FILES.length).toBeGreaterThan(5);
    expect(markdownLinks(readFileSync(FILES[0]!, 'utf8')).length).toBeGreaterThan(10);
  });

  it.each(FILES.map((f) => [path.relative(repoRoot, f), f]))('%s: every relative link and anchor resolves', (_rel, file) => {
    expect(brokenLinks(file)).toEqual([]);
  });

  it('every docs page is linked from the README', () => {
    const readme = readFileSync(FILES[0]!, 'utf8');
    const linked = new Set(markdownLinks(readme).map((l) => path.normalize(l.target.split('#')[0]!)));
    const unlinked = markdownFiles(path.join(repoRoot, 'docs'))
      .map((f) => path.relative(repoRoot, f))
      .filter((f) => !linked.has(f));
    expect(unlinked).toEqual([]);
  });

  it('lists as pending only pages that do not exist yet', () => {
    expect(PENDING.filter((p) => existsSync(path.join(repoRoot, p)))).toEqual([]);
  });

  it('catches a broken link, a broken anchor and ignores code', () => {
    const text = '# Top `x` (y)\n\n## Top x y\n\n[a](#top-x-y) [b](#top-x-y-1) `[c](#nope)`\n```\n[d](#nope)\n```\n';
    expect(markdownLinks(text).map((l) => l.target)).toEqual(['#top-x-y', '#top-x-y-1']);
    expect([...headingAnchors(text)]).toEqual(['top-x-y', 'top-x-y-1']);
    expect(headingAnchors('## `/readyz` reasons\n## Sidecar injection (Kyverno)\n')).toEqual(new Set(['readyz-reasons', 'sidecar-injection-kyverno']));
  });
});
