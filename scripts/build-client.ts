// Builds the browser token client (src/client/token-client.ts) into one dependency-free ES module,
// with what it imports from src/lib/ bundled in: `npm run build` writes dist/client/ with it, and
// `npm run demo` and the tests compile it fresh, so they never depend on a stale build. Types are
// checked by `npm run typecheck` (tsconfig.client.json: DOM types); this only bundles.
//
//   tsx scripts/build-client.ts [out-dir]    # default dist/client
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const CLIENT_SOURCE = join(ROOT, 'src', 'client', 'token-client.ts')

/** The JavaScript of the client module. */
export async function compileClientSource (): Promise<string> {
  const result = await build({
    entryPoints: [CLIENT_SOURCE],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent'
  })
  return (result.outputFiles[0] as { text: string }).text
}

/** Writes the compiled client to `<dir>/token-client.js` and returns that path. */
export async function compileClient (dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'token-client.js')
  await writeFile(file, await compileClientSource())
  return file
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = await compileClient(process.argv[2] ?? join(ROOT, 'dist', 'client'))
  process.stdout.write(`wrote ${file}\n`)
}
