// The full run's report: from the measured rows, the refresh, stampede and start/idle results,
// the result object written to bench/results/latest.json (settings, machine, rows, ratios,
// targets with PASS/FAIL, start and idle cost), and the tables printed from that same object.
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import type { Stats } from './child.js'
import { RATE_LIMIT_MAX } from './fixtures.js'
import { combine, isExpected, type LoadRun } from './load.js'
import { mb, round1, round2, table } from './output.js'
import { BUCKET_MS, type RefreshResult } from './refresh.js'
import { scenario, type BenchContext, type ScenarioName } from './scenarios.js'
import { CONNECTIONS, RESULTS, WARMUP_S } from './settings.js'
import type { StampedeResult } from './stampede.js'
import type { StartupResult } from './startup.js'
import { formatStartup } from './startup-report.js'
import { loadTargets, type Ratios } from './targets.js'

/** What the full run measured, for the report. */
export interface FullRunResults {
  /** Date.now() at the start. */
  started: number
  loadBefore: number[]
  /** % of all CPU time the hypervisor gave to other guests during the run (null: unknown). */
  steal: number | null
  rounds: number
  runs: Map<ScenarioName, LoadRun[]>
  stats: { service: Stats, naive: Stats, bare: Stats }
  refresh: RefreshResult
  crowd: StampedeResult
  startup: StartupResult
}

type Combined = ReturnType<typeof combine>

/** Each row against naive, bare and bare-reply of the same run. */
function ratiosOf (stats: Map<ScenarioName, Combined>): Ratios {
  const ref = (name: ScenarioName): Combined | undefined => stats.get(name)
  const div = (a: number, b: number | undefined): number | null => b === undefined || b === 0 ? null : round2(a / b)
  const ratios: Ratios = {}
  for (const [name, s] of stats) {
    const replay = ref('bare-reply')
    ratios[name] = {
      toNaive: name === 'bad-key' ? null : div(s.rps, ref('naive')?.rps),
      toBare: name === 'bad-key' ? null : div(s.rps, ref('bare')?.rps),
      toBareReply: name === 'bad-key' ? null : div(s.rps, replay?.rps),
      p99ToNaive: div(s.p99Ms, ref('naive')?.p99Ms),
      cpuUsOverBareReply: replay === undefined || name.startsWith('bare') ? null : round1(s.cpuUsPerRequest - replay.cpuUsPerRequest)
    }
  }
  return ratios
}

/** The content of bench/results/latest.json. */
function buildResult ({ settings, fixtures, scenarios }: BenchContext, results: FullRunResults) {
  const { started, loadBefore, steal, rounds, runs, stats: processStats, refresh, crowd, startup } = results
  const stats = new Map<ScenarioName, Combined>()
  for (const [name, list] of runs) stats.set(name, combine(list))
  const ratios = ratiosOf(stats)
  const unexpected = [...stats.values()].reduce((a, s) => a + s.unexpected, 0)
  const { quick, durationS, logLevel } = settings
  const loadAfter = loadavg()
  return {
    date: new Date(started).toISOString(),
    command: settings.command,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, loadavgBefore: loadBefore.map(round1), loadavgAfter: loadAfter.map(round1), cpuStealPercent: steal },
    settings: { quick, connections: CONNECTIONS, autocannon: 'default options but connections (pipelining 1, keep-alive)', rounds, durationS, warmupS: WARMUP_S, serviceLogLevel: logLevel, rateLimitMax: RATE_LIMIT_MAX, startReps: settings.startReps },
    rows: Object.fromEntries([...stats].map(([name, s]) => {
      const { label, server, expectStatus } = scenario(scenarios, name)
      return [name, {
        label,
        server,
        expectStatus: isExpected(200, expectStatus) ? '2xx' : expectStatus,
        rps: Math.round(s.rps),
        rpsPerRun: s.rpsPerRun,
        cpuUsPerRequest: round1(s.cpuUsPerRequest),
        p50Ms: round2(s.p50Ms),
        p99Ms: round2(s.p99Ms),
        maxMs: round1(s.maxMs),
        responses: s.requests,
        statuses: s.statuses,
        non2xx: s.non2xx,
        errors: s.errors,
        unexpected: s.unexpected
      }]
    })),
    ratios,
    targets: [...loadTargets(ratios, unexpected + refresh.run.unexpected, refresh, crowd), ...startup.targets],
    startup,
    refresh: { ...refresh, run: { rps: Math.round(refresh.run.rps), p50Ms: round1(refresh.run.p50Ms), p99Ms: round1(refresh.run.p99Ms), maxMs: round1(refresh.run.maxMs), non2xx: refresh.run.non2xx, unexpected: refresh.run.unexpected } },
    stampede: { ...crowd, p50Ms: round1(crowd.p50Ms), p99Ms: round1(crowd.p99Ms), maxMs: round1(crowd.maxMs) },
    memory: {
      serviceRssAfterLoadMB: mb(processStats.service.rssBytes),
      serviceHeapUsedAfterLoadMB: mb(processStats.service.heapUsedBytes),
      stampedeServiceRssMB: mb(crowd.rssAfterBytes),
      naiveRssAfterLoadMB: mb(processStats.naive.rssBytes),
      bareRssAfterLoadMB: mb(processStats.bare.rssBytes)
    },
    // The service fetched the JWKS this often (once per service process that saw a JWT): the
    // JWT rows measure the verified-JWT cache, not jose's signature check, after the first use.
    jwksFetches: fixtures.idp.fetchCount,
    unexpectedResponses: unexpected,
    elapsedS: Math.round((Date.now() - started) / 1000)
  }
}

type FullResult = ReturnType<typeof buildResult>

const fixed = (n: number | null, digits: number): string => n === null || Number.isNaN(n) ? '' : n.toFixed(digits)

/** A row's check column: 'ok', or every unexpected status and the errors. */
function check (row: FullResult['rows'][string]): string {
  if (row.unexpected === 0) return 'ok'
  const expect = typeof row.expectStatus === 'number' ? row.expectStatus : 200
  const wrong = Object.entries(row.statuses).filter(([status]) => !isExpected(Number(status), expect)).map(([status, n]) => `${status}×${n}`)
  return `UNEXPECTED: ${[...wrong, ...(row.errors > 0 ? [`errors×${row.errors}`] : [])].join(' ')}`
}

/** The printed report: every number comes from the result written to latest.json. */
function format (result: FullResult): string {
  const { settings, refresh, stampede: crowd, memory, targets, ratios } = result
  const rows = [['row', '2xx req/s', '× naive', '× bare', 'CPU µs/req', 'CPU µs over bare-reply', 'p50 ms', 'p99 ms', 'p99 × naive', 'max ms', 'non-2xx', 'check']]
  for (const [name, s] of Object.entries(result.rows)) {
    const r = ratios[name as ScenarioName]
    rows.push([s.label, String(s.rps), fixed(r?.toNaive ?? null, 2), fixed(r?.toBare ?? null, 2), s.cpuUsPerRequest.toFixed(1), fixed(r?.cpuUsOverBareReply ?? null, 1),
      s.p50Ms.toFixed(2), s.p99Ms.toFixed(2), fixed(r?.p99ToNaive ?? null, 2), s.maxMs.toFixed(1), String(s.non2xx), check(s)])
  }
  return [
    '',
    `${result.command}: ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}, load average ${result.machine.loadavgBefore[0]} → ${result.machine.loadavgAfter[0]}, CPU steal ${result.machine.cpuStealPercent ?? 'unknown'} %`,
    `autocannon at its default options, ${settings.connections} connections (pipelining 1, keep-alive); ${settings.rounds} alternating rounds × ${settings.durationS} s per row (+${settings.warmupS} s warm-up); service LOG_LEVEL=${settings.serviceLogLevel}, RATE_LIMIT_MAX ${settings.rateLimitMax}`,
    '2xx req/s: only 2xx responses count (the bad-key row: its 401s); p50/p99 over every response of every round; CPU µs/req: the server process\'s CPU time per response',
    'naive: Fastify without logger, plain API-key compare, one cached token; bare-reply: bare Fastify sending the service\'s API-key reply unchanged, so CPU µs over bare-reply is the service\'s own work',
    '',
    table(rows),
    '',
    formatStartup(result.startup),
    '',
    table([['target', 'measured', ''], ...targets.map((t) => [t.target, String(t.value), t.pass ? 'PASS' : 'FAIL'])]),
    '',
    `stampede: ${crowd.requests} requests in flight at once (${crowd.sockets} keep-alive sockets × ${crowd.pipelinedPerSocket} pipelined), ` +
      `${crowd.receivedBeforeProviderAnswered} received before the provider answered; provider requests: global ${crowd.providerRequests.global}, bandwidth ${crowd.providerRequests.bandwidth}; ` +
      `statuses ${JSON.stringify(crowd.statuses)}; all answered ${crowd.answeredAfterProviderMs} ms after the provider answered ` +
      `(${crowd.totalMs} ms after the first request; arrival took ${crowd.allArrivedMs} ms); latency p50 ${crowd.p50Ms} / p99 ${crowd.p99Ms} / max ${crowd.maxMs} ms`,
    `refresh under load: ${refresh.refreshes} refreshes in ${refresh.durationS} s (token lifetime ${refresh.lifetimeS} s, TOKEN_REFRESH_AT 0.5, provider answers in ${refresh.providerDelayMs} ms); ` +
      `${BUCKET_MS} ms windows with a refresh: ${refresh.rpsInRefreshWindows} req/s, max ${refresh.maxLatencyInRefreshWindowsMs} ms (median window max ${refresh.medianWindowMaxInRefreshWindowsMs} ms); ` +
      `the windows next to them: ${refresh.rpsInNeighbourWindows} req/s, max ${refresh.maxLatencyInNeighbourWindowsMs} ms (median window max ${refresh.medianWindowMaxInNeighbourWindowsMs} ms); ` +
      `responses slower than the provider: ${refresh.responsesSlowerThanProvider}`,
    `memory after the load rows: service RSS ${memory.serviceRssAfterLoadMB} MB (heap used ${memory.serviceHeapUsedAfterLoadMB} MB), after the stampede ${memory.stampedeServiceRssMB} MB; ` +
      `naive ${memory.naiveRssAfterLoadMB} MB; bare Fastify ${memory.bareRssAfterLoadMB} MB`,
    `JWKS fetched ${result.jwksFetches} time(s) in the whole run: the JWT rows are served by the verified-JWT cache after each token's first use`,
    `unexpected responses in the rows (wrong status, errors, timeouts): ${result.unexpectedResponses}`,
    `wrote bench/results/latest.json in ${result.elapsedS} s`,
    ''
  ].join('\n')
}

/** Writes bench/results/latest.json, then prints the report. */
export function report (ctx: BenchContext, results: FullRunResults): void {
  const result = buildResult(ctx, results)
  writeFileSync(`${RESULTS}latest.json`, JSON.stringify(result, null, 2) + '\n')
  process.stdout.write(format(result))
}
