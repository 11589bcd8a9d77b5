// `npm run bench`: measures the service's hot path against the framework's own ceiling. Starts,
// each in its own process on 127.0.0.1 (free ports): a bare Fastify hello-world (the ceiling,
// which also replays one recorded service reply: the bare-reply row) and the service
// (bench/service.ts); this process hosts the provider emulator, the JWKS and the load
// generator (autocannon). Alternates bare and service runs, then runs the refresh-under-load and
// stampede scenarios on fresh service processes. Prints a table and writes bench/results/latest.json.
//
//   npm run bench                       # full: 2 rounds × 10 s per scenario, about 3 minutes
//   npm run bench -- --quick            # 2 rounds × 3 s, about 1.5 minutes
//   npm run bench -- --rounds 3 --duration 5   # other round counts and window lengths
//   npm run bench -- --log-level warn   # the service at another LOG_LEVEL, to price logging
//   npm run bench -- --profile api-key  # CPU profile of the service under one scenario (or bare, bare-reply)
//   npm run bench -- --compare DIR_A --compare DIR_B   # A/B of the services of two checkouts
//
// Not part of `npm test`; no unit test asserts a timing.
//
// This file is the command line and the full run; the modes and scenarios live next to it:
// settings.ts, output.ts, fixtures.ts, scenarios.ts, refresh.ts, stampede.ts, report.ts,
// profile.ts and compare.ts.
import { mkdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { startChild, type Stats } from './child.js'
import { compare } from './compare.js'
import { readCpuTimes, stealPercent } from './cpu-steal.js'
import { createFixtures, startService } from './fixtures.js'
import type { LoadRun } from './load.js'
import { log } from './output.js'
import { profile } from './profile.js'
import { refreshUnderLoad } from './refresh.js'
import { report } from './report.js'
import { checkScenarios, createScenarios, measure, replayServiceReply, servedByBare, type BenchContext, type ScenarioName } from './scenarios.js'
import { CONNECTIONS, RESULTS, WARMUP_S, type Settings } from './settings.js'
import { STAMPEDE, STAMPEDE_TOTAL, stampede } from './stampede.js'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    profile: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    compare: { type: 'string', multiple: true }
  }
})
function positive (name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`)
  return n
}
const settings: Settings = {
  quick: args.quick,
  // Alternation needs at least two rounds.
  rounds: args.rounds === undefined ? undefined : Math.max(2, Math.round(positive('rounds', args.rounds, 2))),
  durationS: positive('duration', args.duration, args.quick ? 3 : 10),
  logLevel: args['log-level']
}

/** The default mode: alternating rounds of every scenario, refresh under load, stampede, report. */
async function fullRun (ctx: BenchContext): Promise<void> {
  const { settings, fixtures, scenarios } = ctx
  const rounds = settings.rounds ?? 2
  mkdirSync(RESULTS, { recursive: true })
  const started = Date.now()
  const loadBefore = loadavg()
  const cpuBefore = readCpuTimes()
  log(`${settings.quick ? 'quick' : 'full'} run: ${rounds} rounds × ${settings.durationS} s (+${WARMUP_S} s warm-up) per scenario, ${CONNECTIONS} connections, service LOG_LEVEL=${settings.logLevel}`)
  const bare = await startChild({ file: 'bare-fastify.ts' })
  const service = await startService(fixtures, settings)
  const runs = new Map<ScenarioName, LoadRun[]>()
  let serviceStats: Stats
  let bareStats: Stats
  try {
    await replayServiceReply(bare, service, fixtures.apiKey)
    await checkScenarios(scenarios, bare, service)
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}`)
      for (const s of scenarios) {
        const run = await measure(s, servedByBare(s) ? bare : service, settings.durationS)
        runs.set(s.name, [...(runs.get(s.name) ?? []), run])
      }
    }
    serviceStats = await service.stats()
    bareStats = await bare.stats()
  } finally {
    await service.stop()
    await bare.stop()
  }

  log('refresh under load')
  const refresh = await refreshUnderLoad(ctx)
  log(`refresh: ${refresh.refreshes} refreshes; req/s ${refresh.rpsInRefreshWindows} (refresh windows) vs ${refresh.rpsInNeighbourWindows} (neighbouring windows); max latency ${refresh.maxLatencyInRefreshWindowsMs} vs ${refresh.maxLatencyInNeighbourWindowsMs} ms`)
  log(`stampede: ${STAMPEDE_TOTAL} requests over ${STAMPEDE.sockets} sockets × ${STAMPEDE.depth} pipelined`)
  const crowd = await stampede(ctx)
  log(`stampede: provider requests global ${crowd.providerRequests.global}, bandwidth ${crowd.providerRequests.bandwidth}; all answered ${crowd.answeredAfterProviderMs} ms after the provider answered`)

  const steal = stealPercent(cpuBefore, readCpuTimes())
  report(ctx, { started, loadBefore, steal, rounds, runs, serviceStats, bareStats, refresh, crowd })
}

const fixtures = await createFixtures()
try {
  const ctx: BenchContext = { settings, fixtures, scenarios: createScenarios(fixtures) }
  if (args.profile !== undefined) await profile(ctx, args.profile)
  else if (args.compare !== undefined) await compare(ctx, args.compare)
  else await fullRun(ctx)
} finally {
  await fixtures.emulator.close()
  await fixtures.idp.close()
}
