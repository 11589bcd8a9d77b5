// Compiles the browser token client (src/client/token-client.ts) to JavaScript with the compiler
// options of tsconfig.client.json, for `npm run demo` and the tests, which run from source and
// must not depend on a stale or missing `npm run build`. Transpile only: the client has no
// imports, so the output is what the build emits; type errors are `npm run typecheck`'s job.
// Dev only (TypeScript is a dev dependency); production serves dist/client/ from the build.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const CLIENT_SOURCE = join(ROOT, 'src', 'client', 'token-client.ts')
export const CLIENT_TSCONFIG = join(ROOT, 'tsconfig.client.json')

/** The JavaScript of the client, compiled as `npm run build` compiles it. */
export async function compileClientSource (tsconfig = CLIENT_TSCONFIG): Promise<string> {
  const { config, error } = ts.readConfigFile(tsconfig, ts.sys.readFile)
  if (error !== undefined) throw new Error(`${tsconfig}: ${ts.flattenDiagnosticMessageText(error.messageText, '\n')}`)
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, dirname(tsconfig))
  const source = await readFile(CLIENT_SOURCE, 'utf8')
  const { outputText } = ts.transpileModule(source, {
    fileName: CLIENT_SOURCE,
    compilerOptions: { ...options, declaration: false, sourceMap: false, noEmit: false }
  })
  return outputText
}

/** Writes the compiled client to `<dir>/token-client.js` and returns that path. */
export async function compileClient (dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'token-client.js')
  await writeFile(file, await compileClientSource())
  return file
}
