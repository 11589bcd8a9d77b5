// The full run's report: from the measured runs, the refresh and stampede results, the result
// object written to bench/results/latest.json (with the targets of issue 6 and PASS/FAIL for
// each), and the table and summary lines printed from that same object.
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import type { Stats } from './child.js'
import { RATE_LIMIT_MAX } from './fixtures.js'
import { combine, type LoadRun } from './load.js'
import { mb, round1, round2, table } from './output.js'
import { BUCKET_MS, type RefreshResult } from './refresh.js'
import { scenario, type BenchContext, type ScenarioName } from './scenarios.js'
import { CONNECTIONS, RESULTS, WARMUP_S } from './settings.js'
import { STAMPEDE_TOTAL, type StampedeResult } from './stampede.js'

const TARGETS = { apiKeyRatio: 0.8, jwtRatio: 0.7, p99Factor: 2, refreshRpsRatio: 0.9, refreshMaxLatencyFactor: 1.5 }

/** What the full run measured, for the report. */
export interface FullRunResults {
  /** Date.now() at the start. */
  started: number
  loadBefore: number[]
  /** % of all CPU time the hypervisor gave to other guests during the run (null: unknown). */
  steal: number | null
  rounds: number
  runs: Map<ScenarioName, LoadRun[]>
  serviceStats: Stats
  bareStats: Stats
  refresh: RefreshResult
  crowd: StampedeResult
}

type Combined = ReturnType<typeof combine>

function targetsOf (ratio: (name: ScenarioName) => number, p99x: (name: ScenarioName) => number, { refresh, crowd }: FullRunResults): Array<{ target: string, value: number | string, pass: boolean }> {
  return [
    { target: `API-key path ≥ ${TARGETS.apiKeyRatio} × bare req/s`, value: ratio('api-key'), pass: ratio('api-key') >= TARGETS.apiKeyRatio },
    { target: `JWT path (same JWT) ≥ ${TARGETS.jwtRatio} × bare req/s`, value: ratio('jwt'), pass: ratio('jwt') >= TARGETS.jwtRatio },
    { target: `JWT path (100 JWTs) ≥ ${TARGETS.jwtRatio} × bare req/s`, value: ratio('jwt-pool'), pass: ratio('jwt-pool') >= TARGETS.jwtRatio },
    ...(['api-key', 'jwt', 'jwt-pool', 'bad-key'] as const).map((name) => ({
      target: `${name} p99 ≤ ${TARGETS.p99Factor} × bare p99`, value: p99x(name), pass: p99x(name) <= TARGETS.p99Factor
    })),
    {
      target: 'stampede: exactly 1 provider request per upstream',
      value: `${crowd.providerRequests.global} / ${crowd.providerRequests.bandwidth}`,
      pass: crowd.providerRequests.global === 1 && crowd.providerRequests.bandwidth === 1 && crowd.statuses['200'] === STAMPEDE_TOTAL
    },
    { target: `refresh: req/s in refresh windows ≥ ${TARGETS.refreshRpsRatio} × neighbours`, value: refresh.rpsRatio, pass: refresh.refreshes > 0 && refresh.rpsRatio >= TARGETS.refreshRpsRatio },
    { target: 'refresh: every response a 200 (no caller sees the refresh fail)', value: refresh.run.unexpected, pass: refresh.run.unexpected === 0 },
    {
      target: `refresh: a window's max latency (median over windows) ≤ ${TARGETS.refreshMaxLatencyFactor} × neighbours`,
      value: `${refresh.medianWindowMaxInRefreshWindowsMs} / ${refresh.medianWindowMaxInNeighbourWindowsMs} ms`,
      pass: refresh.medianWindowMaxInRefreshWindowsMs <= TARGETS.refreshMaxLatencyFactor * refresh.medianWindowMaxInNeighbourWindowsMs
    },
    { target: 'refresh: no caller waits on the provider (no response ≥ its 1 s delay)', value: refresh.responsesSlowerThanProvider, pass: refresh.responsesSlowerThanProvider === 0 }
  ]
}

/** The content of bench/results/latest.json. */
function buildResult ({ settings, fixtures, scenarios }: BenchContext, results: FullRunResults) {
  const { started, loadBefore, steal, rounds, runs, serviceStats, bareStats, refresh, crowd } = results
  const stats = new Map<ScenarioName, Combined>()
  for (const [name, list] of runs) stats.set(name, combine(list))
  const bareStat = stats.get('bare') as Combined
  const ratio = (name: ScenarioName): number => Math.round(100 * (stats.get(name)?.rps ?? 0) / bareStat.rps) / 100
  // The same reply's bytes from bare Fastify: what is left between it and a service row is the
  // service's own work (auth, rate limit, token, log line, metrics), not the size of the reply.
  const replayStat = stats.get('bare-reply')
  const sameReply = (name: ScenarioName, s: Combined): { ratioToBareReply: number | null, cpuUsOverBareReply: number | null } =>
    replayStat === undefined || name === 'bare' || name === 'bare-reply'
      ? { ratioToBareReply: null, cpuUsOverBareReply: null }
      : { ratioToBareReply: round2(s.rps / replayStat.rps), cpuUsOverBareReply: round1(s.cpuUsPerRequest - replayStat.cpuUsPerRequest) }
  const p99x = (name: ScenarioName): number => Math.round(100 * (stats.get(name)?.p99Ms ?? 0) / bareStat.p99Ms) / 100
  const targets = targetsOf(ratio, p99x, results)
  const unexpected = [...stats.values()].reduce((a, s) => a + s.unexpected, 0) + refresh.run.unexpected
  const { quick, durationS, logLevel } = settings

  const loadAfter = loadavg()
  return {
    date: new Date(started).toISOString(),
    command: `npm run bench${quick ? ' -- --quick' : ''}${logLevel !== 'info' ? ` -- --log-level ${logLevel}` : ''}`,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, loadavgBefore: loadBefore.map(round1), loadavgAfter: loadAfter.map(round1), cpuStealPercent: steal },
    settings: { connections: CONNECTIONS, rounds, durationS, warmupS: WARMUP_S, serviceLogLevel: logLevel, rateLimitMax: RATE_LIMIT_MAX },
    scenarios: Object.fromEntries([...stats].map(([name, s]) => [name, {
      label: scenario(scenarios, name).label,
      rps: Math.round(s.rps),
      rpsPerRun: s.rpsPerRun,
      ratioToBare: ratio(name),
      cpuUsPerRequest: round1(s.cpuUsPerRequest),
      cpuRatioToBare: round2(bareStat.cpuUsPerRequest / s.cpuUsPerRequest),
      p50Ms: round2(s.p50Ms),
      p99Ms: round2(s.p99Ms),
      maxMs: round1(s.maxMs),
      p99ToBare: p99x(name),
      ...sameReply(name, s),
      requests: s.requests,
      statuses: s.statuses,
      unexpected: s.unexpected
    }])),
    targets,
    refresh: { ...refresh, run: { rps: Math.round(refresh.run.rps), p50Ms: round1(refresh.run.p50Ms), p99Ms: round1(refresh.run.p99Ms), maxMs: round1(refresh.run.maxMs), unexpected: refresh.run.unexpected } },
    stampede: { ...crowd, p50Ms: round1(crowd.p50Ms), p99Ms: round1(crowd.p99Ms), maxMs: round1(crowd.maxMs) },
    memory: {
      serviceRssAfterLoadMB: mb(serviceStats.rssBytes),
      serviceHeapUsedAfterLoadMB: mb(serviceStats.heapUsedBytes),
      stampedeServiceRssMB: mb(crowd.rssAfterBytes),
      bareRssAfterLoadMB: mb(bareStats.rssBytes)
    },
    // The service fetched the JWKS this often (once per service process that saw a JWT): the
    // JWT rows measure the verified-JWT cache, not jose's signature check, after the first use.
    jwksFetches: fixtures.idp.fetchCount,
    unexpectedResponses: unexpected,
    elapsedS: Math.round((Date.now() - started) / 1000)
  }
}

type FullResult = ReturnType<typeof buildResult>

/** The printed report: every number comes from the result written to latest.json. */
function format (result: FullResult): string {
  const { settings, refresh, stampede: crowd, memory, targets } = result
  const rows = [['scenario', 'req/s', '× bare', 'CPU µs/req', 'bare CPU ÷ this', 'p50 ms', 'p99 ms', 'p99 × bare', 'max ms', '× bare-reply', '+CPU µs over bare-reply']]
  for (const [name, s] of Object.entries(result.scenarios)) {
    rows.push([s.label, String(s.rps), name === 'bare' ? '1.00' : s.ratioToBare.toFixed(2), s.cpuUsPerRequest.toFixed(1), s.cpuRatioToBare.toFixed(2), s.p50Ms.toFixed(2), s.p99Ms.toFixed(2), name === 'bare' ? '1.00' : s.p99ToBare.toFixed(2), s.maxMs.toFixed(1),
      s.ratioToBareReply === null ? '' : s.ratioToBareReply.toFixed(2), s.cpuUsOverBareReply === null ? '' : s.cpuUsOverBareReply.toFixed(1)])
  }
  return [
    '',
    `${result.command}: ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}, load average ${result.machine.loadavgBefore[0]} → ${result.machine.loadavgAfter[0]}, CPU steal ${result.machine.cpuStealPercent ?? 'unknown'} %`,
    `autocannon, ${settings.connections} connections, ${settings.rounds} alternating rounds × ${settings.durationS} s per row (+${settings.warmupS} s warm-up); service LOG_LEVEL=${settings.serviceLogLevel}; p50/p99 over every response of both rounds;`,
    'CPU µs/req: the server process\'s CPU time per response (less sensitive to other load than req/s); bare CPU ÷ this: the throughput ratio to expect when CPU-bound',
    'bare-reply: bare Fastify sending the service\'s API-key reply unchanged (its headers and token); × bare-reply and +CPU µs over bare-reply: what the service\'s own work costs, apart from the reply\'s size',
    '',
    table(rows),
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
    `memory: service RSS after the load runs ${memory.serviceRssAfterLoadMB} MB (heap used ${memory.serviceHeapUsedAfterLoadMB} MB); ` +
      `after the stampede ${memory.stampedeServiceRssMB} MB; bare Fastify ${memory.bareRssAfterLoadMB} MB`,
    `JWKS fetched ${result.jwksFetches} time(s) in the whole run: the JWT rows are served by the verified-JWT cache after each token's first use`,
    `unexpected responses (wrong status, errors, timeouts): ${result.unexpectedResponses}`,
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
