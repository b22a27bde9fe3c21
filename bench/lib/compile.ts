// The bench's own helper processes that sit on a measured path (the floor yardstick, the tail-trace preload,
// the fixed-rate client) run as plain JavaScript, like the proxy (proxy/dist): under tsx every process also
// carries tsx's loader thread and on-the-fly transform (more RSS, more start-up CPU), which would flatter the
// proxy against the floor. TypeScript's transpileModule strips the types; the files it compiles import only
// node: modules at run time (type-only imports are erased).

import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import ts from 'typescript';

/** Transpile `srcFile` (TypeScript, ESM) to `<outDir>/<name>.mjs` and return that path. */
export function transpileToJs(srcFile: string, outDir: string): string {
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(srcFile, 'utf8'), {
    fileName: srcFile,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, sourceMap: false },
  });
  if (diagnostics && diagnostics.length > 0) {
    throw new Error(`bench: cannot transpile ${srcFile}: ${diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
  }
  const out = join(outDir, basename(srcFile).replace(/\.ts$/, '.mjs'));
  writeFileSync(out, outputText);
  return out;
}
