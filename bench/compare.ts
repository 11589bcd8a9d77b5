// Compare mode (`--compare DIR --compare DIR …`): before/after numbers for a change. The
// services of two or more checkouts (each with its own bench/service.ts and src/) are measured
// alternately against the same bare Fastify, so machine load hits every variant alike.
// Prints a table and writes bench/results/compare.json.
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { basename, resolve } from 'node:path'
import { startChild, type BenchChild } from './child.js'
import { startService } from './fixtures.js'
import { combine, type LoadRun } from './load.js'
import { log, round1, round2, table } from './output.js'
import { checkScenarios, measure, replayServiceReply, scenario, type BenchContext } from './scenarios.js'
import { RESULTS } from './settings.js'

export async function compare ({ settings, fixtures, scenarios }: BenchContext, dirs: string[]): Promise<void> {
  mkdirSync(RESULTS, { recursive: true })
  const roots = dirs.map((d) => resolve(d))
  const names = roots.map((r) => basename(r))
  const chosen = (['api-key', 'jwt', 'bad-key'] as const).map((name) => scenario(scenarios, name))
  const rounds = settings.rounds ?? (settings.quick ? 2 : 3)
  const loadBefore = loadavg()
  const bare = await startChild({ file: 'bare-fastify.ts' })
  const services: BenchChild[] = []
  const runs = new Map<string, LoadRun[]>()
  const push = (key: string, run: LoadRun): void => { runs.set(key, [...(runs.get(key) ?? []), run]) }
  try {
    for (const root of roots) services.push(await startService(fixtures, settings, {}, { root }))
    await replayServiceReply(bare, services[0] as BenchChild, fixtures.apiKey)
    for (const service of services) await checkScenarios(scenarios, bare, service)
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}`)
      push('bare', await measure(scenario(scenarios, 'bare'), bare, settings.durationS))
      for (const s of chosen) {
        // Alternate which variant goes first, so neither always follows the other.
        const order = services.map((_, i) => i)
        if (round % 2 === 0) order.reverse()
        for (const i of order) {
          log(`${names[i] ?? ''}:`)
          push(`${s.name} @ ${names[i] ?? ''}`, await measure(s, services[i] as BenchChild, settings.durationS))
        }
      }
    }
  } finally {
    for (const service of services) await service.stop()
    await bare.stop()
  }
  const bareStat = combine(runs.get('bare') ?? [])
  const rows = [['scenario @ variant', 'req/s', '× bare', 'CPU µs/req', 'bare CPU ÷ this', 'p50 ms', 'p99 ms', 'max ms', 'req/s per run']]
  const json: Record<string, unknown> = {}
  for (const [key, list] of runs) {
    const c = combine(list)
    json[key] = { rps: Math.round(c.rps), rpsPerRun: c.rpsPerRun, ratioToBare: round2(c.rps / bareStat.rps), cpuUsPerRequest: round1(c.cpuUsPerRequest), cpuRatioToBare: round2(bareStat.cpuUsPerRequest / c.cpuUsPerRequest), p50Ms: round2(c.p50Ms), p99Ms: round2(c.p99Ms), maxMs: round1(c.maxMs), unexpected: c.unexpected }
    rows.push([key, String(Math.round(c.rps)), (c.rps / bareStat.rps).toFixed(2), c.cpuUsPerRequest.toFixed(1), (bareStat.cpuUsPerRequest / c.cpuUsPerRequest).toFixed(2), c.p50Ms.toFixed(2), c.p99Ms.toFixed(2), c.maxMs.toFixed(1), c.rpsPerRun.join(' ')])
  }
  const loadAfter = loadavg()
  writeFileSync(`${RESULTS}compare.json`, JSON.stringify({
    date: new Date().toISOString(),
    variants: Object.fromEntries(names.map((n, i) => [n, roots[i]])),
    rounds,
    durationS: settings.durationS,
    logLevel: settings.logLevel,
    loadavgBefore: loadBefore.map(round1),
    loadavgAfter: loadAfter.map(round1),
    results: json
  }, null, 2) + '\n')
  process.stdout.write(`\n${table(rows)}\n\nload average ${round1(loadBefore[0] ?? 0)} → ${round1(loadAfter[0] ?? 0)}; wrote bench/results/compare.json\n`)
}
