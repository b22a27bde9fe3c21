// What the proxy runs, staged where its non-root user can read it: proxy/dist and the production dependency tree
// (npm's own list, `npm ls --omit=dev`), copied under the run's temporary directory with world-readable modes.
// The sidecar runs as uid 1337 like in the pod; without staging it needs every parent of the checkout to be
// o+rx, and a clone under a private home (0700) fails with "cannot read proxy/dist/main.js".
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface Staged {
  /** proxy/dist/main.js inside the staged tree */
  main: string;
  packages: number;
}

/** Absolute directories of every production package (npm ls exits non-zero on a cosmetic tree problem; its list stands). */
async function productionPackages(repo: string): Promise<string[]> {
  let stdout = '';
  try {
    ({ stdout } = await execFileP('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repo, maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    stdout = (err as { stdout?: string }).stdout ?? '';
  }
  const dirs = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(join(repo, 'node_modules') + sep));
  if (dirs.length === 0) throw new Error('npm ls --omit=dev listed no production package: is node_modules installed?');
  return dirs;
}

function makeReadable(path: string): void {
  const st = statSync(path);
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const e of readdirSync(path)) makeReadable(join(path, e));
  } else if (st.isFile()) {
    chmodSync(path, (st.mode & 0o777) | 0o444);
  }
}

export async function stageProxy(repo: string, dest: string): Promise<Staged> {
  const dist = join(repo, 'proxy/dist');
  if (!existsSync(join(dist, 'main.js'))) throw new Error(`${dist}/main.js not found: run \`npm run build\` first (npm run e2e does)`);
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  cpSync(dist, join(dest, 'proxy/dist'), { recursive: true });
  // package.json: "type": "module" makes node treat the .js files as ESM, as in the checkout.
  cpSync(join(repo, 'package.json'), join(dest, 'package.json'));
  // A package's directory holds its nested node_modules: copying the outermost ones copies everything once.
  const dirs = (await productionPackages(repo)).sort();
  const outermost = dirs.filter((d, i) => !dirs.slice(0, i).some((p) => d.startsWith(p + sep)));
  for (const d of outermost) cpSync(d, join(dest, relative(repo, d)), { recursive: true, dereference: true });
  makeReadable(dest);
  return { main: join(dest, 'proxy/dist/main.js'), packages: dirs.length };
}
