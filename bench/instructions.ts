// Instructions mode (`--instructions`): what each row's server executes per request, counted by
// valgrind (cachegrind) rather than timed. Instruction counts do not depend on what else the
// machine is doing, so this prices the service's own work exactly, where CPU time per request
// moves with the load and the CPU steal of a shared machine. Every server is first bundled
// (esbuild, dependencies left in node_modules) and run with plain node, as production runs the
// service, so no TypeScript loader is counted and the rows compare alike. Each server runs twice
// under cachegrind (all its threads counted), serving N1 and then N2 requests after the same
// warm-up; (I2 − I1) / (N2 − N1) is its count per request, with the start, the warm-up and the
// exit subtracted out. The warm-up is long enough for V8 to have compiled the hot path, so
// compilation is not counted as per-request work. A few requests at a time (4 connections),
// since everything runs about fifty times slower under valgrind.
// With `--compare DIR …` it counts the API-key row of each checkout's service instead, `--rounds`
// times each, alternating: a before/after that the machine's load cannot blur.
// Writes bench/results/instructions.json.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type AutocannonRequest } from 'autocannon'
import { build } from 'esbuild'
import type { BenchChild } from './child.js'
import { log, round1, table } from './output.js'
import { replayServiceReply, scenario, type BenchContext, type ScenarioName } from './scenarios.js'
import { startServer } from './servers.js'
import { RESULTS } from './settings.js'
import type { ServerKind } from './scenarios.js'

const ROWS: ScenarioName[] = ['bare-reply', 'naive', 'api-key', 'jwt']
const WARMUP = 3000
const N1 = 500
const N2 = 4500

/** Sends `amount` requests, 4 at a time, and checks they all got the expected status. */
async function send (url: string, requests: AutocannonRequest[], amount: number, expectStatus: number): Promise<void> {
  const result = await autocannon({ url, connections: 4, amount, requests })
  const expected = result.statusCodeStats[String(expectStatus) as '200']?.count ?? 0
  if (expected !== amount) throw new Error(`${url}: ${expected} of ${amount} requests got ${expectStatus}`)
}

const FILES: Record<ServerKind, string> = { bare: 'bare-fastify.ts', naive: 'naive.ts', service: 'service.ts' }

/**
 * Each server kind bundled into dist/bench/, to run with plain node: one folder below dist/, like
 * the production bundle, so the paths the service resolves from its own URL hold.
 */
async function buildServers (): Promise<Record<ServerKind, string>> {
  const dir = fileURLToPath(new URL('../dist/bench/', import.meta.url))
  const built = {} as Record<ServerKind, string>
  for (const [kind, file] of Object.entries(FILES) as Array<[ServerKind, string]>) {
    built[kind] = await bundle(fileURLToPath(new URL(file, import.meta.url)), join(dir, file.replace(/\.ts$/, '.mjs')))
  }
  return built
}

async function bundle (entry: string, outfile: string): Promise<string> {
  await build({ entryPoints: [entry], bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', outfile, logLevel: 'warning' })
  return outfile
}

/** Total instructions of one run of a row's server serving `amount` requests after the warm-up. */
async function count (ctx: BenchContext, name: ScenarioName, amount: number, record: BenchChild | undefined, built: Record<ServerKind, string>, root?: string): Promise<number> {
  const s = scenario(ctx.scenarios, name)
  const out = join(RESULTS, `cachegrind-${name}-${amount}.out`)
  rmSync(out, { force: true })
  const wrapper = ['valgrind', '--tool=cachegrind', '--cache-sim=no', `--cachegrind-out-file=${out}`]
  const server = await startServer(s.server, ctx, { wrapper, built: built[s.server], root })
  try {
    if (name === 'bare-reply' && record !== undefined) await replayServiceReply(server, record, ctx.fixtures.apiKey)
    await send(server.url, s.requests, WARMUP, s.expectStatus)
    await send(server.url, s.requests, amount, s.expectStatus)
  } finally {
    await server.stop()
  }
  const summary = /^summary: (\d+)/m.exec(readFileSync(out, 'utf8'))
  if (summary === null) throw new Error(`${out}: no summary line`)
  return Number(summary[1])
}

export async function instructions (ctx: BenchContext, dirs: string[] = []): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('--instructions needs valgrind (apt-get install valgrind)')
  mkdirSync(RESULTS, { recursive: true })
  if (dirs.length > 0) {
    await compareCheckouts(ctx, dirs)
    return
  }
  const built = await buildServers()
  // A plain service, only to record the reply bare Fastify replays.
  const record = await startServer('service', ctx)
  const perRequest: Record<string, number> = {}
  try {
    for (const name of ROWS) {
      log(`${name}: ${N1} and ${N2} requests under cachegrind`)
      const first = await count(ctx, name, N1, record, built)
      const second = await count(ctx, name, N2, record, built)
      perRequest[name] = Math.round((second - first) / (N2 - N1))
      log(`${name}: ${perRequest[name]} instructions per request`)
    }
  } finally {
    await record.stop()
  }
  const naive = perRequest.naive as number
  const bareReply = perRequest['bare-reply'] as number
  const rows = ROWS.map((name) => {
    const n = perRequest[name] as number
    return [scenario(ctx.scenarios, name).label, String(n), round1(n / naive).toString(), name === 'api-key' || name === 'jwt' ? String(n - bareReply) : '']
  })
  process.stdout.write(`\ninstructions per request (valgrind cachegrind, every thread; ${N2 - N1} requests after a ${WARMUP}-request warm-up, 4 connections)\n\n` +
    table([['row', 'instructions/req', '× naive', 'over bare-reply'], ...rows]) + '\n')
  writeFileSync(join(RESULTS, 'instructions.json'), JSON.stringify({ date: new Date().toISOString(), command: ctx.settings.command, node: process.version, warmup: WARMUP, n1: N1, n2: N2, perRequest }, null, 2) + '\n')
  process.stdout.write('wrote bench/results/instructions.json\n')
}

/** `--instructions --compare DIR …`: the API-key row's instructions per request for each checkout. */
async function compareCheckouts (ctx: BenchContext, dirs: string[]): Promise<void> {
  const roots = dirs.map((d) => resolve(d))
  const built = await buildServers()
  const services = await Promise.all(roots.map(async (root) => await bundle(join(root, 'bench/service.ts'), join(root, 'dist/bench/service.mjs'))))
  const rounds = ctx.settings.rounds ?? 2
  const perRequest: Record<string, number[]> = {}
  for (let round = 1; round <= rounds; round++) {
    const order = roots.map((_, i) => i)
    if (round % 2 === 0) order.reverse()
    for (const i of order) {
      const root = roots[i] as string
      const name = basename(root)
      log(`round ${round}/${rounds}, ${name}: ${N1} and ${N2} requests under cachegrind`)
      const withService = { ...built, service: services[i] as string }
      const first = await count(ctx, 'api-key', N1, undefined, withService, root)
      const second = await count(ctx, 'api-key', N2, undefined, withService, root)
      const n = Math.round((second - first) / (N2 - N1))
      perRequest[name] = [...(perRequest[name] ?? []), n]
      log(`${name}: ${n} instructions per request`)
    }
  }
  const rows = roots.map((root) => {
    const runs = perRequest[basename(root)] ?? []
    return [basename(root), String(Math.round(runs.reduce((a, b) => a + b, 0) / runs.length)), runs.join(' ')]
  })
  process.stdout.write(`\ninstructions per request of the API-key row (valgrind cachegrind, every thread; ${N2 - N1} requests after a ${WARMUP}-request warm-up, 4 connections)\n\n` +
    table([['checkout', 'mean', 'each round'], ...rows]) + '\n')
  writeFileSync(join(RESULTS, 'instructions.json'), JSON.stringify({ date: new Date().toISOString(), command: ctx.settings.command, node: process.version, warmup: WARMUP, n1: N1, n2: N2, roots, perRequest }, null, 2) + '\n')
  process.stdout.write('wrote bench/results/instructions.json\n')
}
