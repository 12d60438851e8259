/**
 * Builds the web page into dist/web/ (or `outDir`): index.html, assets/app.css, and
 * assets/app.js, the page script bundled with the client library by esbuild (a dev
 * dependency, loaded only here). Nothing is fetched at run time from anywhere but the
 * gateway. `npm run build` runs this after tsc; tests call `buildWeb(tmpDir)`.
 *
 *   node --import tsx services/gateway/web/build.ts [outDir]
 */
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The sources: this directory in the checkout (the same from dist/gateway/web). */
const ROOT = path.resolve(import.meta.dirname, '../../..');
const SRC = path.join(ROOT, 'services/gateway/web');
export const DEFAULT_OUT_DIR = path.join(ROOT, 'dist/web');

/** What must never end up in the browser bundle (type-only imports keep them out). */
const FORBIDDEN = [
  /node_modules[\\/]zod[\\/]/,
  /node_modules[\\/]@nats-io[\\/]/,
  /node_modules[\\/]ws[\\/]/,
];

export interface WebBuild {
  outDir: string;
  /** Bytes of assets/app.js. */
  scriptBytes: number;
}

export async function buildWeb(
  outDir = DEFAULT_OUT_DIR,
  opts: { minify?: boolean } = {},
): Promise<WebBuild> {
  const esbuild = await import('esbuild');
  // Built next to the target and renamed into place: a running gateway never serves a
  // half-written page, and two builds do not interleave their files.
  const tmp = `${outDir}.tmp-${String(process.pid)}-${String(Date.now())}`;
  await mkdir(path.join(tmp, 'assets'), { recursive: true });
  try {
    const result = await esbuild.build({
      entryPoints: [path.join(SRC, 'main.ts')],
      outfile: path.join(tmp, 'assets', 'app.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome111', 'firefox111', 'safari16'],
      minify: opts.minify ?? true,
      sourcemap: 'linked',
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const leaked = inputs.filter((i) => FORBIDDEN.some((re) => re.test(i)));
    if (leaked.length > 0) {
      throw new Error(`the page bundle pulls in server-side modules: ${leaked.join(', ')}`);
    }
    await copyFile(path.join(SRC, 'index.html'), path.join(tmp, 'index.html'));
    await copyFile(path.join(SRC, 'app.css'), path.join(tmp, 'assets', 'app.css'));
    const { size } = await stat(path.join(tmp, 'assets', 'app.js'));
    await rm(outDir, { recursive: true, force: true });
    await rename(tmp, outDir);
    return { outDir, scriptBytes: size };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = path.resolve(process.argv[2] ?? DEFAULT_OUT_DIR);
  const built = await buildWeb(out);
  process.stdout.write(
    `web page built into ${built.outDir} (app.js ${String(Math.round(built.scriptBytes / 1024))} KiB)\n`,
  );
}
