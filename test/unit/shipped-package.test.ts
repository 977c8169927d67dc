/**
 * What ships is the product (issue 15): dist/ is src/ compiled plus the asset folders the build
 * copies, and none of it may reach into the repository's test tree or benches, which an installed
 * package does not have. Each src file is transpiled the way tsc emits it (cheap: no type check),
 * and the emitted JavaScript and the copied assets are searched; every relative import, static or
 * dynamic, must stay inside src/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');
const FORBIDDEN = ['test/fakes', 'bench/baseline', 'test/fixtures'];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; scripts: Record<string, string> };
const tsconfig = ts.parseJsonConfigFileContent(ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p)).config, ts.sys, ROOT);
/** The folders under src/ the build script copies into dist/ as they are. */
const ASSET_DIRS = ['http/static', 'bench/audio'];

function emitted(): { file: string; js: string }[] {
  return files(SRC)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !ASSET_DIRS.some((d) => f.startsWith(join(SRC, d))))
    .map((file) => ({ file, js: ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { ...tsconfig.options, declaration: false, sourceMap: false }, fileName: file }).outputText }));
}

describe('what ships (dist/)', () => {
  const out = emitted();

  it('has no reference to the test tree or the baseline bridge, in code or comments', () => {
    expect(out.length).toBeGreaterThan(100);
    const found = out.flatMap(({ file, js }) => FORBIDDEN.filter((f) => js.includes(f)).map((f) => `${relative(ROOT, file)}: ${f}`));
    const assets = ASSET_DIRS.flatMap((d) => files(join(SRC, d)))
      .filter((f) => /\.(js|html|css|json|md)$/.test(f))
      .flatMap((f) => FORBIDDEN.filter((x) => readFileSync(f, 'utf8').includes(x)).map((x) => `${relative(ROOT, f)}: ${x}`));
    expect([...found, ...assets]).toEqual([]);
  });

  it('imports nothing outside src/, statically or with import()', () => {
    const outside: string[] = [];
    for (const { file, js } of out) {
      for (const { fileName } of ts.preProcessFile(js, true, true).importedFiles) {
        if (!fileName.startsWith('.')) continue;
        const target = resolve(dirname(file), fileName);
        if (relative(SRC, target).startsWith('..')) outside.push(`${relative(ROOT, file)} -> ${fileName}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it('the build copies the asset folders into dist/, and "files" ships dist/', () => {
    expect(pkg.files).toContain('dist');
    for (const d of ASSET_DIRS) expect(pkg.scripts.build).toContain(`'${d}'`);
    expect(pkg.scripts.build).toMatch(/cpSync\('src\/' \+ d, 'dist\/' \+ d/);
  });

  it("the bench's shipped caller audio is the quiet fixture call, byte for byte, with its labels", () => {
    for (const name of ['call-quiet.8k.ulaw', 'call-quiet.labels.json']) {
      expect(readFileSync(join(SRC, 'bench/audio', name)).equals(readFileSync(join(ROOT, 'test/fixtures/audio/calls', name))), name).toBe(true);
    }
  });
});
