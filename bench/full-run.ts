// The default mode: bare Fastify, the naive token server and the service each in its own
// process, every row measured in alternating rounds; then the refresh-under-load and stampede
// scenarios on fresh service processes; then the start and idle cost of bare Fastify against
// the built service. Writes bench/results/latest.json and prints the report.
import { mkdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import type { Stats } from './child.js'
import { readCpuTimes, stealPercent } from './cpu-steal.js'
import type { LoadRun } from './load.js'
import { log } from './output.js'
import { refreshUnderLoad } from './refresh.js'
import { report } from './report.js'
import { measure, type BenchContext, type ScenarioName, type Servers } from './scenarios.js'
import { startServers, stopAll } from './servers.js'
import { CONNECTIONS, RESULTS, WARMUP_S } from './settings.js'
import { STAMPEDE, STAMPEDE_TOTAL, stampede } from './stampede.js'
import { measureStartup } from './startup.js'

export async function fullRun (ctx: BenchContext): Promise<void> {
  const { settings, fixtures, scenarios } = ctx
  const rounds = settings.rounds ?? 2
  mkdirSync(RESULTS, { recursive: true })
  const started = Date.now()
  const loadBefore = loadavg()
  const cpuBefore = readCpuTimes()
  log(`${settings.quick ? 'quick' : 'full'} run: ${rounds} rounds × ${settings.durationS} s (+${WARMUP_S} s warm-up) per row, ${CONNECTIONS} connections, service LOG_LEVEL=${settings.logLevel}`)
  const servers: Servers = await startServers(ctx)
  const runs = new Map<ScenarioName, LoadRun[]>()
  let stats: { service: Stats, naive: Stats, bare: Stats }
  try {
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}`)
      for (const s of scenarios) {
        const run = await measure(s, servers[s.server], settings.durationS)
        runs.set(s.name, [...(runs.get(s.name) ?? []), run])
      }
    }
    stats = { service: await servers.service.stats(), naive: await servers.naive.stats(), bare: await servers.bare.stats() }
  } finally {
    await stopAll([servers.service, servers.naive, servers.bare])
  }

  log('refresh under load')
  const refresh = await refreshUnderLoad(ctx)
  log(`refresh: ${refresh.refreshes} refreshes; req/s ${refresh.rpsInRefreshWindows} (refresh windows) vs ${refresh.rpsInNeighbourWindows} (neighbouring windows); max latency ${refresh.maxLatencyInRefreshWindowsMs} vs ${refresh.maxLatencyInNeighbourWindowsMs} ms`)
  log(`stampede: ${STAMPEDE_TOTAL} requests over ${STAMPEDE.sockets} sockets × ${STAMPEDE.depth} pipelined`)
  const crowd = await stampede(ctx)
  log(`stampede: provider requests global ${crowd.providerRequests.global}, bandwidth ${crowd.providerRequests.bandwidth}; all answered ${crowd.answeredAfterProviderMs} ms after the provider answered`)
  log(`start and idle cost: ${settings.startReps} starts each of bare Fastify and the built service`)
  const startup = await measureStartup(fixtures, settings.startReps)

  const steal = stealPercent(cpuBefore, readCpuTimes())
  report(ctx, { started, loadBefore, steal, rounds, runs, stats, refresh, crowd, startup })
}
