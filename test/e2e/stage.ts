// What the proxy runs, staged where its non-root user can read it: proxy/dist and the production dependency tree
// (npm's own list, `npm ls --omit=dev`), copied under the run's temporary directory with world-readable modes.
// The e2e's gRPC app (grpc-client.mjs and grpc-js) is staged the same way for uid 1000.
// The sidecar runs as uid 1337 like in the pod; without staging it needs every parent of the checkout to be
// o+rx, and a clone under a private home (0700) fails with "cannot read proxy/dist/main.js".
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
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

/** Copies package directories (absolute, under repo) to the same relative places under dest, outermost first. */
function copyPackages(repo: string, dest: string, dirs: string[]): void {
  // A package's directory holds its nested node_modules: copying the outermost ones copies everything once.
  const sorted = [...new Set(dirs)].sort();
  const outermost = sorted.filter((d, i) => !sorted.slice(0, i).some((p) => d.startsWith(p + sep)));
  for (const d of outermost) cpSync(d, join(dest, relative(repo, d)), { recursive: true, dereference: true });
}

export async function stageProxy(repo: string, dest: string): Promise<Staged> {
  const dist = join(repo, 'proxy/dist');
  if (!existsSync(join(dist, 'main.js'))) throw new Error(`${dist}/main.js not found: run \`npm run build\` first (npm run e2e does)`);
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  cpSync(dist, join(dest, 'proxy/dist'), { recursive: true });
  // package.json: "type": "module" makes node treat the .js files as ESM, as in the checkout.
  cpSync(join(repo, 'package.json'), join(dest, 'package.json'));
  const dirs = await productionPackages(repo);
  copyPackages(repo, dest, dirs);
  makeReadable(dest);
  return { main: join(dest, 'proxy/dist/main.js'), packages: dirs.length };
}

/** Where node would find package `name` required from directory `from` (walking up to the repository). */
function findPackage(repo: string, from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === repo || dirname(dir) === dir) return undefined;
  }
}

/** `names` and everything they depend on (dependencies, and optional ones that are installed), as node resolves them. */
function dependencyClosure(repo: string, names: string[]): string[] {
  const found = new Set<string>();
  const visit = (from: string, name: string, optional: boolean): void => {
    const dir = findPackage(repo, from, name);
    if (dir === undefined) {
      if (optional) return;
      throw new Error(`package ${name} (needed from ${relative(repo, from) || '.'}) is not installed`);
    }
    if (found.has(dir)) return;
    found.add(dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dir, dep, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dir, dep, true);
  };
  for (const name of names) visit(repo, name, false);
  return [...found];
}

export interface StagedClient {
  /** test/e2e/grpc-client.mjs inside the staged tree */
  script: string;
  /** the demo target's proto (test/emulators/proto/demo.proto) inside the staged tree */
  proto: string;
  packages: number;
}

/**
 * The e2e's gRPC app, staged like the proxy so uid 1000 can run it from anywhere: the plain-JS client, the demo
 * proto and @grpc/grpc-js + @grpc/proto-loader with their dependency tree (dev dependencies of this repository,
 * so not in the proxy's production tree).
 */
export function stageGrpcClient(repo: string, dest: string): StagedClient {
  mkdirSync(dest, { recursive: true, mode: 0o755 });
  const script = join(dest, 'test/e2e/grpc-client.mjs');
  const proto = join(dest, 'test/emulators/proto/demo.proto');
  mkdirSync(dirname(script), { recursive: true });
  mkdirSync(dirname(proto), { recursive: true });
  cpSync(join(repo, 'test/e2e/grpc-client.mjs'), script);
  cpSync(join(repo, 'test/emulators/proto/demo.proto'), proto);
  const dirs = dependencyClosure(repo, ['@grpc/grpc-js', '@grpc/proto-loader']);
  copyPackages(repo, dest, dirs);
  makeReadable(dest);
  return { script, proto, packages: dirs.length };
}
