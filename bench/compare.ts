// Compare mode (`--compare DIR --compare DIR …`): before/after numbers for a change. The
// services of two or more checkouts (each with its own bench/service.ts and src/) are measured
// alternately against the same bare Fastify and naive token server, so machine load hits every
// variant alike. Prints a table and writes bench/results/compare.json.
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { basename, resolve } from 'node:path'
import type { BenchChild } from './child.js'
import { combine, type LoadRun } from './load.js'
import { log, round1, round2, table } from './output.js'
import { checkScenarios, measure, replayServiceReply, scenario, type BenchContext } from './scenarios.js'
import { startServer, stopAll } from './servers.js'
import { RESULTS } from './settings.js'

export async function compare (ctx: BenchContext, dirs: string[]): Promise<void> {
  const { settings, scenarios } = ctx
  mkdirSync(RESULTS, { recursive: true })
  const roots = dirs.map((d) => resolve(d))
  const names = roots.map((r) => basename(r))
  const chosen = (['api-key', 'jwt', 'bad-key'] as const).map((name) => scenario(scenarios, name))
  const rounds = settings.rounds ?? (settings.quick ? 2 : 3)
  const loadBefore = loadavg()
  const services: BenchChild[] = []
  const runs = new Map<string, LoadRun[]>()
  const push = (key: string, run: LoadRun): void => { runs.set(key, [...(runs.get(key) ?? []), run]) }
  let bare: BenchChild | undefined
  let naive: BenchChild | undefined
  try {
    bare = await startServer('bare', ctx)
    naive = await startServer('naive', ctx)
    for (const root of roots) services.push(await startServer('service', ctx, { root }))
    await replayServiceReply(bare, services[0] as BenchChild, ctx.fixtures.apiKey)
    for (const service of services) await checkScenarios(scenarios, { bare, naive, service })
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}`)
      push('bare', await measure(scenario(scenarios, 'bare'), bare, settings.durationS))
      push('naive', await measure(scenario(scenarios, 'naive'), naive, settings.durationS))
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
    await stopAll([...services, naive, bare])
  }
  const bareStat = combine(runs.get('bare') ?? [])
  const naiveStat = combine(runs.get('naive') ?? [])
  const rows = [['row @ variant', '2xx req/s', '× naive', '× bare', 'CPU µs/req', 'p50 ms', 'p99 ms', 'p99 × naive', 'max ms', 'non-2xx', 'unexpected', 'req/s per run']]
  const json: Record<string, unknown> = {}
  for (const [key, list] of runs) {
    const c = combine(list)
    // The bad-key row's req/s counts its 401s: no ratio to a 2xx row.
    const ratio = (to: number): number | null => key.startsWith('bad-key') ? null : round2(c.rps / to)
    const r = { rps: Math.round(c.rps), rpsPerRun: c.rpsPerRun, ratioToNaive: ratio(naiveStat.rps), ratioToBare: ratio(bareStat.rps), cpuUsPerRequest: round1(c.cpuUsPerRequest), p50Ms: round2(c.p50Ms), p99Ms: round2(c.p99Ms), p99ToNaive: round2(c.p99Ms / naiveStat.p99Ms), maxMs: round1(c.maxMs), non2xx: c.non2xx, unexpected: c.unexpected, statuses: c.statuses }
    json[key] = r
    rows.push([key, String(r.rps), r.ratioToNaive?.toFixed(2) ?? '', r.ratioToBare?.toFixed(2) ?? '', c.cpuUsPerRequest.toFixed(1), c.p50Ms.toFixed(2), c.p99Ms.toFixed(2), r.p99ToNaive.toFixed(2), c.maxMs.toFixed(1), String(c.non2xx), c.unexpected > 0 ? `UNEXPECTED ${c.unexpected}` : '0', c.rpsPerRun.join(' ')])
  }
  const loadAfter = loadavg()
  writeFileSync(`${RESULTS}compare.json`, JSON.stringify({
    date: new Date().toISOString(),
    command: settings.command,
    variants: Object.fromEntries(names.map((n, i) => [n, roots[i]])),
    rounds,
    durationS: settings.durationS,
    logLevel: settings.logLevel,
    loadavgBefore: loadBefore.map(round1),
    loadavgAfter: loadAfter.map(round1),
    results: json
  }, null, 2) + '\n')
  process.stdout.write(`\n${table(rows)}\n\n2xx req/s counts only 2xx responses (the bad-key rows: their 401s); load average ${round1(loadBefore[0] ?? 0)} → ${round1(loadAfter[0] ?? 0)}; wrote bench/results/compare.json\n`)
}
