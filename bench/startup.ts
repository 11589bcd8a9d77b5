// Start and idle cost, side by side in one run: bare Fastify (bench/bare-healthz.mjs under plain
// node, no TypeScript loader) and the built service as production runs it: node
// dist/bundle/server.js, what `npm start` and the image run, with one upstream pointed at the
// emulator, one API key and nothing else in its environment. Beside it, for information, the
// unbundled tsc output dist/server.js shows what the bundle buys. For each: the time from
// spawning the process to its first 200 from GET /healthz, and its resident memory (VmRSS from
// /proc) after a few idle seconds. Several repetitions, the variants alternating; medians
// against the targets. One extra, untimed start of each counts the ES and CommonJS modules it
// loaded (bench/module-count.mjs).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { emulatorUpstreamEnv } from '../emulator/service-env.js'
import { freePort } from '../test/helpers/net.js'
import type { Fixtures } from './fixtures.js'
import { median } from './load.js'
import { log, round1 } from './output.js'
import { startTargets } from './startup-report.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SERVER = join(ROOT, 'dist', 'bundle', 'server.js')
const UNBUNDLED = join(ROOT, 'dist', 'server.js')
/** Idle time between the first 200 and the RSS reading. */
export const IDLE_S = 3
/** /healthz is polled this often until the first 200: the start times' resolution. */
const POLL_MS = 2
const START_TIMEOUT_MS = 30_000

interface Variant { name: 'bare' | 'service' | 'service-unbundled', command: string, args: string[], env: Record<string, string> }
export interface Modules { esm: number, cjs: number }
export interface VariantResult { command: string, startMs: number[], idleRssMB: Array<number | null>, medianStartMs: number, medianIdleRssMB: number | null, modules: Modules | null }
export interface StartupResult { reps: number, idleS: number, pollMs: number, variants: Record<string, VariantResult>, targets: Array<{ target: string, value: number | string, pass: boolean }> }

/** Runs `npm run build` unless told not to; either way, fails clearly without dist/bundle/server.js. */
export function ensureBuilt (build: boolean): void {
  if (build) {
    log('npm run build (the start and idle rows run dist/bundle/server.js)')
    const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] })
    if (result.status !== 0) throw new Error(`npm run build failed (${result.error?.message ?? `exit ${result.status}`}): the start and idle rows need dist/bundle/server.js; fix the build, or pass --skip-build to measure the dist/ already there`)
  }
  if (!existsSync(SERVER)) throw new Error('dist/bundle/server.js is missing: run `npm run build`, or leave out --skip-build so that the bench builds it')
}

function variants ({ credentials, emulator, apiKey }: Fixtures): Variant[] {
  const env = { ...emulatorUpstreamEnv(emulator, credentials, { upstreams: ['global'] }), API_KEYS: `bench:${apiKey}` }
  return [
    { name: 'bare', command: 'node bench/bare-healthz.mjs', args: [join(ROOT, 'bench', 'bare-healthz.mjs')], env: {} },
    { name: 'service', command: 'node dist/bundle/server.js', args: [SERVER], env },
    // The same service unbundled (tsc's output): for information, no target.
    { name: 'service-unbundled', command: 'node dist/server.js', args: [UNBUNDLED], env }
  ]
}

/** The status of one GET /healthz on a fresh connection (rejects if nothing listens yet). */
function healthz (port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/** Spawns a variant and polls /healthz: the process and the ms from spawn to the first 200. */
async function start (v: Variant, nodeFlags: string[] = [], extraEnv: Record<string, string> = {}): Promise<{ child: ChildProcess, startMs: number }> {
  const port = await freePort()
  const began = performance.now()
  const child = spawn(process.execPath, [...nodeFlags, ...v.args], {
    cwd: ROOT,
    env: { ...v.env, ...extraEnv, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { if (stderr.length < 8192) stderr += chunk })
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode})`)
      if (performance.now() - began > START_TIMEOUT_MS) throw new Error(`no 200 from /healthz within ${START_TIMEOUT_MS} ms`)
      if (await healthz(port).catch(() => 0) === 200) return { child, startMs: performance.now() - began }
      await sleep(POLL_MS)
    }
  } catch (err) {
    await stop(child)
    throw new Error(`${v.command}: ${(err as Error).message}\n${stderr}`)
  }
}

/** VmRSS of a process in MB; null where /proc is unavailable. */
function rssMB (pid: number | undefined): number | null {
  try {
    const kB = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kB === undefined ? null : round1(Number(kB) / 1024)
  } catch {
    return null
  }
}

/** ES and CommonJS modules loaded by the time /healthz answered (+0.5 s); null if it failed. */
async function moduleCount (v: Variant): Promise<Modules | null> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-modules-'))
  const out = join(dir, 'counts.json')
  try {
    const { child } = await start(v, ['--import', pathToFileURL(join(ROOT, 'bench', 'module-count.mjs')).href], { BENCH_MODULES_OUT: out })
    await sleep(500)
    await stop(child)
    return JSON.parse(readFileSync(out, 'utf8')) as Modules
  } catch (err) {
    log(`module count of ${v.command} failed: ${(err as Error).message}`)
    return null
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function measureStartup (fixtures: Fixtures, reps: number): Promise<StartupResult> {
  const list = variants(fixtures)
  const samples = new Map(list.map((v) => [v.name, { startMs: [] as number[], idleRssMB: [] as Array<number | null> }]))
  for (let rep = 1; rep <= reps; rep++) {
    // Alternate the order, so no variant always follows another.
    for (const v of rep % 2 === 1 ? list : [...list].reverse()) {
      const { child, startMs } = await start(v)
      try {
        await sleep(IDLE_S * 1000)
        samples.get(v.name)?.startMs.push(round1(startMs))
        samples.get(v.name)?.idleRssMB.push(rssMB(child.pid))
      } finally {
        await stop(child)
      }
    }
    log(`start rep ${rep}/${reps}: ${list.map((v) => `${v.name} ${samples.get(v.name)?.startMs.at(-1)} ms ${samples.get(v.name)?.idleRssMB.at(-1)} MB`).join(', ')}`)
  }
  const result: Record<string, VariantResult> = {}
  for (const v of list) {
    const { startMs, idleRssMB } = samples.get(v.name) ?? { startMs: [], idleRssMB: [] }
    const known = idleRssMB.filter((n): n is number => n !== null)
    const modules = v.name === 'service-unbundled' ? null : await moduleCount(v)
    result[v.name] = { command: v.command, startMs, idleRssMB, medianStartMs: round1(median(startMs)), medianIdleRssMB: known.length === 0 ? null : round1(median(known)), modules }
  }
  return { reps, idleS: IDLE_S, pollMs: POLL_MS, variants: result, targets: startTargets(result) }
}
