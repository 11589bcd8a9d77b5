// Bundles the production entry point (src/server.ts) and everything it loads, dependencies
// included, into dist/bundle/: the Docker image and `npm start` run dist/bundle/server.js. One
// file to load instead of about 1,200 modules makes a cold start about twice as fast and the idle
// process about 15 MB smaller (docs/performance.md); code loaded only for some configurations
// (Redis, JWT verification) stays in chunks of its own, loaded when used. dist/ from `tsc` stays
// for library users (the package's exports).
//
// The bundle sits one folder below dist/, like dist/routes/ and dist/plugins/, so the paths the
// code resolves from its own URL (dist/client/token-client.js, package.json) are the same.
//
//   tsx scripts/build-server.ts [out-dir]    # default dist/bundle
import { readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export async function bundleServer (outdir: string): Promise<void> {
  const result = await build({
    entryPoints: [join(ROOT, 'src', 'server.ts')],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir,
    // CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
    metafile: true
  })
  // Chunk names carry a content hash, so each rebuild writes new ones: the chunks an earlier
  // build left in outdir are removed (only hash-named .js files this build did not write).
  const written = new Set(Object.keys(result.metafile.outputs).map((path) => resolve(path)))
  for (const name of await readdir(outdir)) {
    const path = resolve(outdir, name)
    if (/-[A-Z0-9]{8}\.js$/.test(name) && !written.has(path)) await rm(path)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outdir = process.argv[2] ?? join(ROOT, 'dist', 'bundle')
  await bundleServer(outdir)
  process.stdout.write(`wrote ${join(outdir, 'server.js')}\n`)
}
