// npm run soak [-- --duration 5m --rate 300 --connections 16 --log-level info]
//
// A bounded soak: the real app in its own process (this file, forked with `--role service`),
// the provider emulator with short token lifetimes (so refreshes happen all the time) and a test
// identity provider (JWKS) in this one, and autocannon driving mixed traffic at the service over
// 127.0.0.1: API-key and JWT callers on both upstreams, wrong keys, unknown upstreams, probes,
// plus a Prometheus-style scrape every 5 s. The load is paced (--rate requests/s overall, default
// 300; 0 = as fast as possible), so event-loop delay shows responsiveness rather than saturation. It reports RSS at start and end, event-loop delay
// (perf_hooks.monitorEventLoopDelay, in the service process, over the load window), responses by
// status, connection errors, and provider requests against what the refresh schedule predicts.
// It stops on its own after --duration (default 5 minutes) and exits non-zero on a 5xx, an
// unexpected status, a connection error or a warn/error log line. Not part of npm test.
import { fork, type ChildProcess } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { once } from 'node:events'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import autocannon, { type AutocannonRequest } from 'autocannon'
import { nextMessage } from '../bench/child.js'
import { createUpstreamEmulator } from '../emulator/upstream-emulator.js'
import { emulatorUpstreamEnv } from '../emulator/service-env.js'
import { createTestJwks } from '../test/helpers/jwks.js'

interface ServiceStats { rssBytes: number, heapUsedBytes: number, eldP50Ms: number, eldP99Ms: number, eldMaxMs: number }
type ToService = { type: 'stats' } | { type: 'reset' } | { type: 'stop' }
type FromService = { type: 'listening', port: number } | ({ type: 'stats' } & ServiceStats) | { type: 'failed', message: string }

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'driver' },
    duration: { type: 'string', default: '5m' },
    connections: { type: 'string', default: '16' },
    rate: { type: 'string', default: '300' },
    'log-level': { type: 'string', default: 'info' }
  }
})

/** `300`, `300s`, `5m`: seconds. */
function parseDuration (text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m)?$/.exec(text.trim())
  if (m === null) throw new Error(`--duration: expected seconds, "90s" or "5m", got ${JSON.stringify(text)}`)
  const seconds = Number(m[1]) * (m[2] === 'm' ? 60 : 1)
  if (!(seconds >= 5 && seconds <= 24 * 3600)) throw new Error('--duration must be between 5 s and 24 h')
  return Math.round(seconds)
}

// ---------------------------------------------------------------------------------------------
// The service process: the app with the production server options, config from its environment.
// Not bench/service.ts: the soak reads the service's log lines from its stdout and measures its
// event-loop delay, where the bench sends the log to /dev/null and measures CPU time.

async function runService (): Promise<void> {
  const send = (message: FromService): void => { process.send?.(message) }
  process.on('disconnect', () => process.exit(0))
  try {
    const [{ default: Fastify }, { default: app }, { loadConfig }, { serverOptions }] = await Promise.all([
      import('fastify'), import('../src/app.js'), import('../src/config/load-config.js'), import('../src/server-options.js')
    ])
    const config = loadConfig(process.env)
    const fastify = Fastify(serverOptions(config))
    await fastify.register(app, { config })
    await fastify.listen({ host: '127.0.0.1', port: 0 })
    // The histogram records the time between samples, so an idle loop reads the resolution
    // itself (~10 ms): what is reported is the delay beyond it.
    const RESOLUTION_MS = 10
    const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
    delay.enable()
    const ms = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100)
    process.on('message', (message: ToService) => {
      // Both answer with the stats: 'reset' first clears the event-loop delay histogram.
      if (message.type === 'reset') delay.reset()
      if (message.type === 'stats' || message.type === 'reset') {
        const { rss, heapUsed } = process.memoryUsage()
        send({ type: 'stats', rssBytes: rss, heapUsedBytes: heapUsed, eldP50Ms: ms(delay.percentile(50)), eldP99Ms: ms(delay.percentile(99)), eldMaxMs: ms(delay.max) })
      }
      if (message.type === 'stop') {
        delay.disable()
        fastify.close().then(() => process.exit(0), () => process.exit(1))
      }
    })
    send({ type: 'listening', port: (fastify.server.address() as { port: number }).port })
  } catch (err) {
    send({ type: 'failed', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })
    process.exit(1)
  }
}

// ---------------------------------------------------------------------------------------------
// The driver: emulator, JWKS, the service process, load, report.

const MiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** The service's next `type` message; its 'failed' message or its exit rejects. */
async function serviceMessage<T extends 'listening' | 'stats'> (child: ChildProcess, type: T, timeoutMs: number): Promise<Extract<FromService, { type: T }>> {
  const message: FromService = await nextMessage<FromService, T | 'failed'>(child, [type, 'failed'], timeoutMs)
  if (message.type === 'failed') throw new Error(`service failed: ${message.message}`)
  return message as Extract<FromService, { type: T }>
}

async function runDriver (): Promise<number> {
  const durationS = parseDuration(args.duration)
  const connections = Number(args.connections)
  if (!(Number.isInteger(connections) && connections >= 1 && connections <= 1000)) throw new Error('--connections must be an integer from 1 to 1000')
  const rate = Number(args.rate)
  if (!(Number.isInteger(rate) && rate >= 0)) throw new Error('--rate must be a whole number of requests per second (0: unpaced)')
  const logLevel = args['log-level']

  // Short lifetimes: global 40 s with a 5 s margin refreshes every 32 s; bandwidth 60 s / 10 s every 48 s.
  const LIFETIME = { global: 40, bandwidth: 60 }
  const REFRESH_AT = 0.8
  const creds = {
    bandwidth: { clientId: 'soak-bw', clientSecret: randomBytes(24).toString('base64url') },
    global: { clientId: 'soak-gl', clientSecret: randomBytes(24).toString('base64url') }
  }
  const emulator = createUpstreamEmulator({
    tenants: { bandwidth: { ...creds.bandwidth, expiresIn: LIFETIME.bandwidth }, global: { ...creds.global, expiresIn: LIFETIME.global } },
    controlRoutes: false
  })
  await emulator.listen({ host: '127.0.0.1', port: 0 })
  const idp = await createTestJwks({ ttlSeconds: durationS + 600 })
  const keys = { web: randomBytes(32).toString('base64url'), mobile: randomBytes(32).toString('base64url') }

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    LOG_LEVEL: logLevel,
    ...emulatorUpstreamEnv(emulator, creds),
    BANDWIDTH_EXPIRY_MARGIN_SECONDS: '10',
    GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: '5',
    TOKEN_REFRESH_AT: String(REFRESH_AT),
    API_KEYS: `web:${keys.web},mobile:${keys.mobile}`,
    AUTH_JWKS_URL: idp.jwksUrl.href,
    AUTH_ISSUER: idp.issuer,
    AUTH_AUDIENCE: idp.audience,
    // The soak measures the service under sustained load, not the limiter refusing it.
    RATE_LIMIT_MAX: '1000000000'
  }

  const child = fork(fileURLToPath(import.meta.url), ['--role', 'service'], {
    execArgv: ['--import', 'tsx'],
    env,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc']
  })
  // Hard bound: whatever happens, this script ends (and takes its own child with it).
  const deadline = setTimeout(() => {
    process.stderr.write('soak: hard deadline reached; stopping\n')
    child.kill('SIGKILL')
    process.exit(2)
  }, (durationS + 120) * 1000)

  // The service log: count lines by level, keep the first few warnings and errors.
  // Startup lines (e.g. a warning that the browser client is not built, when run from src/) are
  // shown but do not fail the soak; from the load's start on, any warning or error does.
  const levels: Record<string, number> = {}
  const alarming: string[] = []
  const startup: string[] = []
  let loadStarted = false
  const logReader = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const logRead = once(logReader, 'close')
  logReader.on('line', (line) => {
    const level = /"level":(\d+)/.exec(line)?.[1] ?? '?'
    if (!loadStarted) {
      if (Number(level) >= 40) startup.push(line.slice(0, 300))
      return
    }
    levels[level] = (levels[level] ?? 0) + 1
    if (Number(level) >= 40 && alarming.length < 5) alarming.push(line.slice(0, 400))
  })

  const { port } = await serviceMessage(child, 'listening', 60_000)
  const base = `http://127.0.0.1:${port}`
  const ask = async (message: ToService): Promise<ServiceStats> => {
    child.send(message)
    return await serviceMessage(child, 'stats', 10_000)
  }

  // Ready and serving before anything is measured.
  const first = await fetch(`${base}/token/webrtc`, { headers: { 'x-api-key': keys.web } })
  if (first.status !== 200) throw new Error(`service not serving: HTTP ${first.status}`)
  const jwts = await Promise.all(Array.from({ length: 25 }, async (_, i) => await idp.sign({ sub: `soak-user-${i}` })))

  const token = (path: string, headers: Record<string, string>): AutocannonRequest => ({ method: 'GET', path, headers })
  const requests: AutocannonRequest[] = [
    ...Array.from({ length: 6 }, () => token('/token/webrtc', { 'x-api-key': keys.web })),
    ...Array.from({ length: 3 }, () => token('/token/webrtc?upstream=bandwidth', { 'x-api-key': keys.mobile })),
    ...jwts.slice(0, 6).map((jwt) => token('/token/webrtc', { authorization: `Bearer ${jwt}` })),
    ...jwts.slice(6, 9).map((jwt) => token('/token/webrtc?upstream=bandwidth', { authorization: `Bearer ${jwt}` })),
    token('/token/webrtc', { 'x-api-key': `${keys.web.slice(0, -2)}xx` }),
    token('/token/webrtc', { authorization: `Bearer ${(jwts[9] as string).slice(0, -4)}AAAA` }),
    token('/token/webrtc?upstream=nope', { 'x-api-key': keys.web }),
    token('/healthz', {}),
    token('/readyz', {})
  ]
  const EXPECTED = new Set(['200', '400', '401'])

  await new Promise((resolve) => setTimeout(resolve, 1000))
  const start = await ask({ type: 'stats' })
  await ask({ type: 'reset' })
  loadStarted = true
  for (const line of startup) console.log(`soak: startup warning (not counted): ${line}`)
  console.log(`soak: ${durationS} s, ${rate === 0 ? 'unpaced' : `${rate} req/s`}, ${connections} connections, service pid ${String(child.pid)} at ${base}, LOG_LEVEL=${logLevel}`)
  console.log(`soak: start RSS ${MiB(start.rssBytes)}, heap ${MiB(start.heapUsedBytes)}`)

  let peakRss = start.rssBytes
  let scrapes = 0
  let lastScrape = ''
  const startedAt = Date.now()
  const sampler = setInterval(() => {
    fetch(`${base}/metrics`).then(async (res) => { lastScrape = await res.text(); scrapes++ }).catch(() => {})
    ask({ type: 'stats' }).then((s) => {
      peakRss = Math.max(peakRss, s.rssBytes)
      const elapsed = Math.round((Date.now() - startedAt) / 1000)
      if (elapsed % 30 < 5) console.log(`soak: ${elapsed} s  RSS ${MiB(s.rssBytes)}  event-loop p99 ${s.eldP99Ms} ms  provider requests ${emulator.requests('global') + emulator.requests('bandwidth')}`)
    }).catch(() => {})
  }, 5000)

  // Connections are reused for the whole run: the service sets no per-socket request cap
  // (src/server-options.ts), so a reused connection is never answered 503.
  const options = { url: base, connections, duration: durationS, timeout: 10, requests, ...(rate > 0 ? { overallRate: rate } : {}) }
  const result = await autocannon(options)
  clearInterval(sampler)
  const end = await ask({ type: 'stats' })
  peakRss = Math.max(peakRss, end.rssBytes)
  lastScrape = await (await fetch(`${base}/metrics`)).text()
  scrapes++

  child.send({ type: 'stop' } satisfies ToService)
  const exited = once(child, 'exit')
  const stopTimer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
  await exited
  await logRead // every line the service wrote, counted
  clearTimeout(stopTimer)
  clearTimeout(deadline)
  await emulator.close()
  await idp.close()

  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]))
  const unexpected = Object.entries(statuses).filter(([code]) => !EXPECTED.has(code))
  const providerRequests = { global: emulator.requests('global'), bandwidth: emulator.requests('bandwidth') }
  // The prewarm plus one refresh per REFRESH_AT of the lifetime, over the whole run (startup included).
  const runS = (Date.now() - startedAt) / 1000 + 2
  const predicted = {
    global: 1 + Math.floor(runS / (LIFETIME.global * REFRESH_AT)),
    bandwidth: 1 + Math.floor(runS / (LIFETIME.bandwidth * REFRESH_AT))
  }
  const fetchFailures = [...lastScrape.matchAll(/^upstream_fetches_total\{upstream="(\w+)",outcome="(\w+)"\} (\d+)/gm)]
    .filter((m) => m[2] !== 'success' && m[3] !== '0').map((m) => `${m[1]}/${m[2]}=${m[3]}`)

  const nonTwoXx = Object.entries(statuses).filter(([code]) => !code.startsWith('2')).map(([code, n]) => `${code}: ${n}`).join(', ')
  const report = [
    '',
    `soak result (${durationS} s, ${rate === 0 ? 'unpaced' : `paced at ${rate} req/s`}, ${connections} connections)`,
    `  requests          ${result.requests.total} (${Math.round(result.requests.total / result.duration)} req/s), latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
    `  responses         ${Object.entries(statuses).map(([code, n]) => `${code}: ${n}`).join(', ')}`,
    `  non-2xx           ${nonTwoXx === '' ? 'none' : nonTwoXx} (400 and 401 are part of the mix)`,
    `  errors            ${result.errors} connection errors, ${result.timeouts} timeouts; unexpected statuses: ${unexpected.length === 0 ? 'none' : unexpected.map(([c, n]) => `${c}: ${n}`).join(', ')}`,
    `  RSS               start ${MiB(start.rssBytes)}, end ${MiB(end.rssBytes)}, peak ${MiB(peakRss)} (heap used ${MiB(start.heapUsedBytes)} → ${MiB(end.heapUsedBytes)})`,
    `  event-loop delay  p50 ${end.eldP50Ms} ms, p99 ${end.eldP99Ms} ms, max ${end.eldMaxMs} ms (service process, load window, beyond the 10 ms sampling interval)`,
    `  provider requests global ${providerRequests.global} (schedule predicts ${predicted.global}), bandwidth ${providerRequests.bandwidth} (predicts ${predicted.bandwidth}); failed fetches: ${fetchFailures.length === 0 ? 'none' : fetchFailures.join(', ')}`,
    `  machine           ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end (other processes included)`,
    `  service log lines (load window) ${Object.entries(levels).map(([l, n]) => `level ${l}: ${n}`).join(', ')}; /metrics scrapes ${scrapes}`
  ]
  console.log(report.join('\n'))
  for (const line of alarming) console.log(`  warn/error line: ${line}`)

  const failed = unexpected.length > 0 || result.errors > 0 || result.timeouts > 0 || alarming.length > 0 ||
    providerRequests.global > predicted.global + 1 || providerRequests.bandwidth > predicted.bandwidth + 1
  console.log(failed ? 'soak: FAILED' : 'soak: ok')
  return failed ? 1 : 0
}

if (args.role === 'service') {
  await runService()
} else {
  runDriver().then((code) => { process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
