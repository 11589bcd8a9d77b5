// `npm run bench`: measures the service's hot path against the framework's own ceiling. Starts,
// each in its own process on 127.0.0.1 (free ports): a bare Fastify hello-world (the ceiling) and
// the service (bench/service.ts); this process hosts the provider emulator, the JWKS and the load
// generator (autocannon). Alternates bare and service runs, then runs the refresh-under-load and
// stampede scenarios on fresh service processes. Prints a table and writes bench/results/latest.json.
//
//   npm run bench                       # full: 2 rounds × 10 s per scenario, about 2.5 minutes
//   npm run bench -- --quick            # 2 rounds × 3 s, about 1.5 minutes
//   npm run bench -- --rounds 3 --duration 5   # other round counts and window lengths
//   npm run bench -- --log-level warn   # the service at another LOG_LEVEL, to price logging
//   npm run bench -- --profile api-key  # CPU profile of the service under one scenario (or bare)
//   npm run bench -- --compare DIR_A --compare DIR_B   # A/B of the services of two checkouts
//
// Not part of `npm test`; no unit test asserts a timing.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, writeFileSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { basename, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { AutocannonRequest } from 'autocannon'
import { createUpstreamEmulator, TOKEN_PATH } from '../emulator/upstream-emulator.js'
import { createTestJwks } from '../test/helpers/jwks.js'
import { startChild, type BenchChild, type Stats } from './child.js'
import { formatSummary, summarize, type CpuProfile } from './cpuprofile-summary.js'
import { createGate } from './gate.js'
import { combine, percentiles, runLoad, type LoadRun, type LoadStats } from './load.js'
import { runPipelined } from './pipelined-client.js'

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
const QUICK = args.quick
const LOG_LEVEL = args['log-level']
const CONNECTIONS = 100
function positive (name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`)
  return n
}
/** Alternation needs at least two rounds. */
const ROUNDS = Math.max(2, Math.round(positive('rounds', args.rounds, 2)))
const DURATION_S = positive('duration', args.duration, QUICK ? 3 : 10)
const WARMUP_S = 1
const REFRESH_DURATION_S = QUICK ? 6 : 10
const REFRESH_WARMUP_S = QUICK ? 2 : 3
const STAMPEDE = { sockets: 500, depth: 20 }
const STAMPEDE_TOTAL = STAMPEDE.sockets * STAMPEDE.depth
/**
 * The refresh scenario's provider answers after this: long enough that a caller who waited on
 * the refresh would stand out from any tail latency of a loaded machine.
 */
const PROVIDER_DELAY_MS = 1000
/**
 * Refresh scenario: token lifetime, with TOKEN_REFRESH_AT 0.5 and a 1 s margin, so a refresh
 * starts every ~4 s and its answer arrives ~1 s before the held token stops being servable.
 */
const REFRESH_LIFETIME_S = 8
const BUCKET_MS = 500
const TARGETS = { apiKeyRatio: 0.8, jwtRatio: 0.7, p99Factor: 2, refreshRpsRatio: 0.9, refreshMaxLatencyFactor: 1.5 }

const RESULTS = fileURLToPath(new URL('results/', import.meta.url))
const log = (line: string): void => { process.stderr.write(`[bench] ${line}\n`) }
const round1 = (n: number): number => Math.round(n * 10) / 10
const round2 = (n: number): number => Math.round(n * 100) / 100
const mb = (bytes: number): number => Math.round(bytes / 1048576)

// ---------------------------------------------------------------- fixtures (this process)

const secret = (): string => randomBytes(24).toString('base64url')
const credentials = {
  bandwidth: { clientId: 'bench-bandwidth', clientSecret: secret() },
  global: { clientId: 'bench-global', clientSecret: secret() }
}
const emulator = createUpstreamEmulator({ tenants: credentials, logLimit: 50, tokenLimit: 100 })
await emulator.listen({ host: '127.0.0.1', port: 0 })
const idp = await createTestJwks({ ttlSeconds: 3600 })
const apiKey = randomBytes(32).toString('base64url')
const badKey = randomBytes(32).toString('base64url')
const jwt = await idp.sign({ sub: 'browser-user' })
const jwtPool = await Promise.all(Array.from({ length: 100 }, async (_, i) => await idp.sign({ sub: `user-${i}` })))

function serviceEnv (overrides: Record<string, string> = {}): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL,
    BANDWIDTH_CLIENT_ID: credentials.bandwidth.clientId,
    BANDWIDTH_CLIENT_SECRET: credentials.bandwidth.clientSecret,
    BANDWIDTH_TOKEN_URL: emulator.tokenUrl('bandwidth'),
    GLOBAL_WEBRTC_CLIENT_ID: credentials.global.clientId,
    GLOBAL_WEBRTC_CLIENT_SECRET: credentials.global.clientSecret,
    GLOBAL_WEBRTC_TOKEN_URL: emulator.tokenUrl('global'),
    DEFAULT_UPSTREAM: 'global',
    API_KEYS: `bench:${apiKey}`,
    AUTH_JWKS_URL: idp.jwksUrl.href,
    AUTH_ISSUER: idp.issuer,
    AUTH_AUDIENCE: idp.audience,
    // Failed authentication is limited per client IP, and every request here comes from
    // 127.0.0.1: a huge limit keeps the limiter counting (its cost is measured) but never refusing.
    RATE_LIMIT_MAX: '2000000000',
    ...overrides
  }
}

async function startService (overrides: Record<string, string> = {}, opts: { countRequests?: boolean, nodeFlags?: string[], root?: string } = {}): Promise<BenchChild> {
  return await startChild({
    file: 'service.ts',
    root: opts.root,
    nodeFlags: opts.nodeFlags,
    start: { type: 'start', env: serviceEnv(overrides), countRequests: opts.countRequests ?? false }
  })
}

// ---------------------------------------------------------------- scenarios

type ScenarioName = 'bare' | 'api-key' | 'jwt' | 'jwt-pool' | 'bad-key'
interface Scenario { name: ScenarioName, label: string, requests: AutocannonRequest[], expectStatus: number }

const TOKEN = '/token/webrtc'
const SCENARIOS: Scenario[] = [
  { name: 'bare', label: 'bare Fastify hello-world', requests: [{ method: 'GET', path: '/' }], expectStatus: 200 },
  { name: 'api-key', label: '/token/webrtc, API key', requests: [{ method: 'GET', path: TOKEN, headers: { 'x-api-key': apiKey } }], expectStatus: 200 },
  { name: 'jwt', label: '/token/webrtc, RS256 JWT (same)', requests: [{ method: 'GET', path: TOKEN, headers: { authorization: `Bearer ${jwt}` } }], expectStatus: 200 },
  { name: 'jwt-pool', label: '/token/webrtc, 100 JWTs (rotating)', requests: jwtPool.map((token) => ({ method: 'GET', path: TOKEN, headers: { authorization: `Bearer ${token}` } })), expectStatus: 200 },
  { name: 'bad-key', label: '/token/webrtc, bad key → 401', requests: [{ method: 'GET', path: TOKEN, headers: { 'x-api-key': badKey } }], expectStatus: 401 }
]

function scenario (name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name)
  if (found === undefined) throw new Error(`unknown scenario ${name}; one of ${SCENARIOS.map((s) => s.name).join(', ')}`)
  return found
}

/** One request per scenario before measuring: a misconfigured run must fail, not measure 401s. */
async function checkScenarios (bare: BenchChild, service: BenchChild): Promise<void> {
  for (const s of SCENARIOS) {
    const request = s.requests[0] as AutocannonRequest
    const base = s.name === 'bare' ? bare.url : service.url
    const res = await fetch(base + (request.path ?? '/'), { headers: request.headers })
    await res.arrayBuffer()
    if (res.status !== s.expectStatus) throw new Error(`${s.name}: expected ${s.expectStatus}, got ${res.status}`)
  }
}

async function measure (s: Scenario, server: BenchChild, durationS = DURATION_S, warmupS = WARMUP_S): Promise<LoadRun> {
  const run = await runLoad({
    url: server.url,
    connections: CONNECTIONS,
    durationS,
    warmupS,
    requests: s.requests,
    expectStatus: s.expectStatus,
    cpuUs: async () => (await server.stats()).cpuUs
  })
  log(`${s.name.padEnd(9)} ${Math.round(run.rps).toString().padStart(6)} req/s  ${run.cpuUsPerRequest.toFixed(0).padStart(4)} µs CPU/req  p50 ${run.p50Ms.toFixed(2)} ms  p99 ${run.p99Ms.toFixed(2)} ms  max ${run.maxMs.toFixed(1)} ms  (ramp-up ${run.rampMs.toFixed(0)} ms)${run.unexpected > 0 ? `  UNEXPECTED ${run.unexpected}` : ''}`)
  return run
}

// ---------------------------------------------------------------- refresh under load

interface RefreshResult {
  lifetimeS: number
  refreshAt: number
  providerDelayMs: number
  durationS: number
  refreshes: number
  refreshWindows: number
  neighbourWindows: number
  rpsInRefreshWindows: number
  rpsInNeighbourWindows: number
  rpsRatio: number
  maxLatencyInRefreshWindowsMs: number
  maxLatencyInNeighbourWindowsMs: number
  /** Responses slower than the provider's delay: callers that may have waited on the refresh. */
  responsesSlowerThanProvider: number
  run: LoadStats
}

async function refreshUnderLoad (): Promise<RefreshResult> {
  emulator.setExpiresIn('global', REFRESH_LIFETIME_S)
  const gate = await createGate(emulator.url)
  gate.delay(PROVIDER_DELAY_MS)
  const service = await startService({
    GLOBAL_WEBRTC_TOKEN_URL: gate.url(`/global${TOKEN_PATH}`),
    GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: '1',
    TOKEN_REFRESH_AT: '0.5'
  })
  try {
    // A fresh process: a longer warm-up, so the JIT has settled before the window opens.
    const run = await measure(scenario('api-key'), service, REFRESH_DURATION_S, REFRESH_WARMUP_S)
    const calls = gate.calls.filter((c) => c.endedAt >= run.startedAt && c.startedAt <= run.endedAt)
    const windows = Math.floor((run.endedAt - run.startedAt) / BUCKET_MS)
    const count = new Array<number>(windows).fill(0)
    const maxLatency = new Array<number>(windows).fill(0)
    for (let i = 0; i < run.doneAt.length; i++) {
      const b = Math.floor(((run.doneAt[i] as number) - run.startedAt) / BUCKET_MS)
      if (b >= windows) continue
      count[b] = (count[b] as number) + 1
      maxLatency[b] = Math.max(maxLatency[b] as number, run.latencyMs[i] as number)
    }
    // A window "has a refresh" if a provider request was in flight during it (or ended just before it).
    const refreshing = count.map((_, b) => {
      const from = run.startedAt + b * BUCKET_MS
      const to = from + BUCKET_MS
      return calls.some((c) => c.startedAt < to && c.endedAt + 100 > from)
    })
    const inRefresh = count.map((_, b) => b).filter((b) => refreshing[b] === true)
    // Compared with the windows next to them (up to two either side), not with all others: a fresh
    // process still speeds up over its first seconds (JIT), and other load on the machine drifts.
    const near = new Set<number>()
    for (const b of inRefresh) {
      for (let d = -2; d <= 2; d++) if (refreshing[b + d] === false) near.add(b + d)
    }
    const other = [...near]
    const rps = (bs: number[]): number => bs.length === 0 ? 0 : bs.reduce((a, b) => a + (count[b] as number), 0) / bs.length / (BUCKET_MS / 1000)
    const maxOf = (bs: number[]): number => bs.reduce((a, b) => Math.max(a, maxLatency[b] as number), 0)
    let slower = 0
    for (const l of run.latencyMs) if (l >= PROVIDER_DELAY_MS) slower++
    const rpsIn = rps(inRefresh)
    const rpsOther = rps(other)
    return {
      lifetimeS: REFRESH_LIFETIME_S,
      refreshAt: 0.5,
      providerDelayMs: PROVIDER_DELAY_MS,
      durationS: REFRESH_DURATION_S,
      refreshes: calls.length,
      refreshWindows: inRefresh.length,
      neighbourWindows: other.length,
      rpsInRefreshWindows: Math.round(rpsIn),
      rpsInNeighbourWindows: Math.round(rpsOther),
      rpsRatio: rpsOther === 0 ? 0 : Math.round(100 * rpsIn / rpsOther) / 100,
      maxLatencyInRefreshWindowsMs: round1(maxOf(inRefresh)),
      maxLatencyInNeighbourWindowsMs: round1(maxOf(other)),
      responsesSlowerThanProvider: slower,
      run: combine([run])
    }
  } finally {
    await service.stop()
    // A refresh the service started just before it stopped still reaches the emulator.
    await gate.close()
    emulator.setExpiresIn('global', 600)
  }
}

// ---------------------------------------------------------------- stampede

interface StampedeResult {
  requests: number
  sockets: number
  pipelinedPerSocket: number
  /** Requests the service had received when the provider was let answer. */
  receivedBeforeProviderAnswered: number
  providerRequests: { global: number, bandwidth: number }
  statuses: Record<string, number>
  unanswered: number
  /** First request written → the service had received them all (the provider was held meanwhile). */
  allArrivedMs: number
  /** The provider answered → the last of the 10,000 replies arrived. */
  answeredAfterProviderMs: number
  /** First request written → last reply. */
  totalMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  rssAfterBytes: number
}

async function waitUntil (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function stampede (): Promise<StampedeResult> {
  const before = { global: emulator.requests('global'), bandwidth: emulator.requests('bandwidth') }
  const gate = await createGate(emulator.url)
  gate.hold()
  const service = await startService({
    GLOBAL_WEBRTC_TOKEN_URL: gate.url(`/global${TOKEN_PATH}`),
    BANDWIDTH_TOKEN_URL: gate.url(`/bandwidth${TOKEN_PATH}`),
    // The provider is held until every caller has arrived; its request must not time out first.
    UPSTREAM_TIMEOUT_MS: '30000'
  }, { countRequests: true })
  try {
    // The startup prewarm of each upstream is the one request in flight, held at the gate.
    await waitUntil(() => gate.pending >= 2, 10_000, 'the service\'s first provider requests')
    const port = Number(new URL(service.url).port)
    const heads = [TOKEN, `${TOKEN}?upstream=bandwidth`].map((path) =>
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-API-Key: ${apiKey}\r\n\r\n`)
    const client = runPipelined({
      host: '127.0.0.1',
      port,
      ...STAMPEDE,
      request: (i) => heads[i % 2] as string,
      timeoutMs: 60_000
    })
    let received = 0
    let releasedAt = 0
    let allArrivedAt = 0
    const deadline = performance.now() + 30_000
    while (performance.now() < deadline) {
      received = (await service.stats()).received
      if (received >= STAMPEDE_TOTAL) { allArrivedAt = performance.now(); break }
      await sleep(5)
    }
    releasedAt = performance.now()
    gate.release()
    const result = await client
    const stats: Stats = await service.stats()
    await gate.drain()
    return {
      requests: STAMPEDE_TOTAL,
      sockets: STAMPEDE.sockets,
      pipelinedPerSocket: STAMPEDE.depth,
      receivedBeforeProviderAnswered: received,
      providerRequests: {
        global: emulator.requests('global') - before.global,
        bandwidth: emulator.requests('bandwidth') - before.bandwidth
      },
      statuses: result.statuses,
      unanswered: result.unanswered,
      allArrivedMs: allArrivedAt === 0 ? -1 : Math.round(allArrivedAt - result.firstWriteAt),
      answeredAfterProviderMs: Math.round(result.lastResponseAt - releasedAt),
      totalMs: Math.round(result.lastResponseAt - result.firstWriteAt),
      ...percentiles(result.latencyMs),
      rssAfterBytes: stats.rssBytes
    }
  } finally {
    await service.stop()
    await gate.close()
  }
}

// ---------------------------------------------------------------- profile mode

async function profile (name: string): Promise<void> {
  const s = scenario(name)
  const dir = `${RESULTS}profiles`
  mkdirSync(dir, { recursive: true })
  const nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${dir}`]
  // `bare` profiles the ceiling itself, for comparison.
  const child = s.name === 'bare' ? await startChild({ file: 'bare-fastify.ts', nodeFlags }) : await startService({}, { nodeFlags })
  let run: LoadRun
  try {
    run = await measure(s, child)
  } finally {
    await child.stop()
  }
  // One file per thread, named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the
  // main thread (the others are tsx's module loader).
  const mainThread = readdirSync(dir).find((f) => f.includes(`.${child.pid}.0.`) && f.endsWith('.cpuprofile'))
  if (mainThread === undefined) throw new Error('no .cpuprofile was written for the main thread')
  const newest = { f: mainThread }
  const summary = summarize(JSON.parse(readFileSync(`${dir}/${newest.f}`, 'utf8')) as CpuProfile, 30)
  const out = `${RESULTS}profile-${s.name}.json`
  writeFileSync(out, JSON.stringify({ scenario: s.name, logLevel: LOG_LEVEL, profile: `${dir}/${newest.f}`, rpsUnderProfiler: Math.round(run.rps), ...summary }, null, 2) + '\n')
  process.stdout.write(`CPU profile of the service under "${s.label}" (LOG_LEVEL=${LOG_LEVEL}), ${Math.round(run.rps)} req/s under the profiler\n`)
  process.stdout.write(formatSummary(summary) + `\n\nprofile: ${dir}/${newest.f}\nsummary: ${out}\n`)
}

// ---------------------------------------------------------------- compare mode

/**
 * Before/after numbers for a change: the services of two or more checkouts (each with its own
 * bench/service.ts and src/), measured alternately against the same bare Fastify, so machine
 * load hits every variant alike. Writes bench/results/compare.json.
 */
async function compare (dirs: string[]): Promise<void> {
  mkdirSync(RESULTS, { recursive: true })
  const roots = dirs.map((d) => resolve(d))
  const names = roots.map((r) => basename(r))
  const chosen = (['api-key', 'jwt', 'bad-key'] as const).map(scenario)
  const rounds = args.rounds === undefined ? (QUICK ? 2 : 3) : ROUNDS
  const loadBefore = loadavg()
  const bare = await startChild({ file: 'bare-fastify.ts' })
  const services: BenchChild[] = []
  const runs = new Map<string, LoadRun[]>()
  const push = (key: string, run: LoadRun): void => { runs.set(key, [...(runs.get(key) ?? []), run]) }
  try {
    for (const root of roots) services.push(await startService({}, { root }))
    for (const service of services) await checkScenarios(bare, service)
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}`)
      push('bare', await measure(scenario('bare'), bare))
      for (const s of chosen) {
        // Alternate which variant goes first, so neither always follows the other.
        const order = services.map((_, i) => i)
        if (round % 2 === 0) order.reverse()
        for (const i of order) {
          log(`${names[i] ?? ''}:`)
          push(`${s.name} @ ${names[i] ?? ''}`, await measure(s, services[i] as BenchChild))
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
    durationS: DURATION_S,
    logLevel: LOG_LEVEL,
    loadavgBefore: loadBefore.map(round1),
    loadavgAfter: loadAfter.map(round1),
    results: json
  }, null, 2) + '\n')
  process.stdout.write(`\n${table(rows)}\n\nload average ${round1(loadBefore[0] ?? 0)} → ${round1(loadAfter[0] ?? 0)}; wrote bench/results/compare.json\n`)
}

// ---------------------------------------------------------------- full run

function table (rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)).join('  ')).join('\n')
}

async function bench (): Promise<void> {
  mkdirSync(RESULTS, { recursive: true })
  const started = Date.now()
  const loadBefore = loadavg()
  log(`${QUICK ? 'quick' : 'full'} run: ${ROUNDS} rounds × ${DURATION_S} s (+${WARMUP_S} s warm-up) per scenario, ${CONNECTIONS} connections, service LOG_LEVEL=${LOG_LEVEL}`)
  const bare = await startChild({ file: 'bare-fastify.ts' })
  const service = await startService()
  const runs = new Map<ScenarioName, LoadRun[]>()
  let serviceStats: Stats
  let bareStats: Stats
  try {
    await checkScenarios(bare, service)
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round}/${ROUNDS}`)
      for (const s of SCENARIOS) {
        const run = await measure(s, s.name === 'bare' ? bare : service)
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
  const refresh = await refreshUnderLoad()
  log(`refresh: ${refresh.refreshes} refreshes; req/s ${refresh.rpsInRefreshWindows} (refresh windows) vs ${refresh.rpsInNeighbourWindows} (neighbouring windows); max latency ${refresh.maxLatencyInRefreshWindowsMs} vs ${refresh.maxLatencyInNeighbourWindowsMs} ms`)
  log(`stampede: ${STAMPEDE_TOTAL} requests over ${STAMPEDE.sockets} sockets × ${STAMPEDE.depth} pipelined`)
  const crowd = await stampede()
  log(`stampede: provider requests global ${crowd.providerRequests.global}, bandwidth ${crowd.providerRequests.bandwidth}; all answered ${crowd.answeredAfterProviderMs} ms after the provider answered`)

  const stats = new Map<ScenarioName, ReturnType<typeof combine>>()
  for (const [name, list] of runs) stats.set(name, combine(list))
  const bareStat = stats.get('bare') as ReturnType<typeof combine>
  const ratio = (name: ScenarioName): number => Math.round(100 * (stats.get(name)?.rps ?? 0) / bareStat.rps) / 100
  const p99x = (name: ScenarioName): number => Math.round(100 * (stats.get(name)?.p99Ms ?? 0) / bareStat.p99Ms) / 100

  const targets = [
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
    {
      target: `refresh: max latency ≤ ${TARGETS.refreshMaxLatencyFactor} × neighbours, no caller waits on the provider`,
      value: `${refresh.maxLatencyInRefreshWindowsMs} / ${refresh.maxLatencyInNeighbourWindowsMs} ms`,
      pass: refresh.maxLatencyInRefreshWindowsMs <= TARGETS.refreshMaxLatencyFactor * refresh.maxLatencyInNeighbourWindowsMs && refresh.responsesSlowerThanProvider === 0
    }
  ]
  const unexpected = [...stats.values()].reduce((a, s) => a + s.unexpected, 0) + refresh.run.unexpected

  const loadAfter = loadavg()
  const result = {
    date: new Date(started).toISOString(),
    command: `npm run bench${QUICK ? ' -- --quick' : ''}${LOG_LEVEL !== 'info' ? ` -- --log-level ${LOG_LEVEL}` : ''}`,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, loadavgBefore: loadBefore.map(round1), loadavgAfter: loadAfter.map(round1) },
    settings: { connections: CONNECTIONS, rounds: ROUNDS, durationS: DURATION_S, warmupS: WARMUP_S, serviceLogLevel: LOG_LEVEL, rateLimitMax: 2000000000 },
    scenarios: Object.fromEntries([...stats].map(([name, s]) => [name, {
      label: scenario(name).label,
      rps: Math.round(s.rps),
      rpsPerRun: s.rpsPerRun,
      ratioToBare: ratio(name),
      cpuUsPerRequest: round1(s.cpuUsPerRequest),
      cpuRatioToBare: round2(bareStat.cpuUsPerRequest / s.cpuUsPerRequest),
      p50Ms: round2(s.p50Ms),
      p99Ms: round2(s.p99Ms),
      maxMs: round1(s.maxMs),
      p99ToBare: p99x(name),
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
    jwksFetches: idp.fetchCount,
    unexpectedResponses: unexpected,
    elapsedS: Math.round((Date.now() - started) / 1000)
  }
  writeFileSync(`${RESULTS}latest.json`, JSON.stringify(result, null, 2) + '\n')

  const rows = [['scenario', 'req/s', '× bare', 'CPU µs/req', 'bare CPU ÷ this', 'p50 ms', 'p99 ms', 'p99 × bare', 'max ms']]
  for (const [name, s] of Object.entries(result.scenarios)) {
    rows.push([s.label, String(s.rps), name === 'bare' ? '1.00' : s.ratioToBare.toFixed(2), s.cpuUsPerRequest.toFixed(1), s.cpuRatioToBare.toFixed(2), s.p50Ms.toFixed(2), s.p99Ms.toFixed(2), name === 'bare' ? '1.00' : s.p99ToBare.toFixed(2), s.maxMs.toFixed(1)])
  }
  const out = [
    '',
    `${result.command}: ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}, load average ${result.machine.loadavgBefore[0]} → ${result.machine.loadavgAfter[0]}`,
    `autocannon, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds × ${DURATION_S} s per row (+${WARMUP_S} s warm-up); service LOG_LEVEL=${LOG_LEVEL}; p50/p99 over every response of both rounds;`,
    'CPU µs/req: the server process\'s CPU time per response (less sensitive to other load than req/s); bare CPU ÷ this: the throughput ratio to expect when CPU-bound',
    '',
    table(rows),
    '',
    table([['target', 'measured', ''], ...targets.map((t) => [t.target, String(t.value), t.pass ? 'PASS' : 'FAIL'])]),
    '',
    `stampede: ${crowd.requests} requests in flight at once (${crowd.sockets} keep-alive sockets × ${crowd.pipelinedPerSocket} pipelined), ` +
      `${crowd.receivedBeforeProviderAnswered} received before the provider answered; provider requests: global ${crowd.providerRequests.global}, bandwidth ${crowd.providerRequests.bandwidth}; ` +
      `statuses ${JSON.stringify(crowd.statuses)}; all answered ${crowd.answeredAfterProviderMs} ms after the provider answered ` +
      `(${crowd.totalMs} ms after the first request; arrival took ${crowd.allArrivedMs} ms); latency p50 ${result.stampede.p50Ms} / p99 ${result.stampede.p99Ms} / max ${result.stampede.maxMs} ms`,
    `refresh under load: ${refresh.refreshes} refreshes in ${refresh.durationS} s (token lifetime ${refresh.lifetimeS} s, TOKEN_REFRESH_AT 0.5, provider answers in ${PROVIDER_DELAY_MS} ms); ` +
      `${BUCKET_MS} ms windows with a refresh: ${refresh.rpsInRefreshWindows} req/s, max ${refresh.maxLatencyInRefreshWindowsMs} ms; the windows next to them: ${refresh.rpsInNeighbourWindows} req/s, max ${refresh.maxLatencyInNeighbourWindowsMs} ms; ` +
      `responses slower than the provider: ${refresh.responsesSlowerThanProvider}`,
    `memory: service RSS after the load runs ${result.memory.serviceRssAfterLoadMB} MB (heap used ${result.memory.serviceHeapUsedAfterLoadMB} MB); ` +
      `after the stampede ${result.memory.stampedeServiceRssMB} MB; bare Fastify ${result.memory.bareRssAfterLoadMB} MB`,
    `JWKS fetched ${idp.fetchCount} time(s) in the whole run: the JWT rows are served by the verified-JWT cache after each token's first use`,
    `unexpected responses (wrong status, errors, timeouts): ${unexpected}`,
    `wrote bench/results/latest.json in ${result.elapsedS} s`,
    ''
  ]
  process.stdout.write(out.join('\n'))
}

try {
  if (args.profile !== undefined) await profile(args.profile)
  else if (args.compare !== undefined) await compare(args.compare)
  else await bench()
} finally {
  await emulator.close()
  await idp.close()
}
