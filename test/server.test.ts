// src/server.ts as operators run it: fail-fast startup (exit non-zero, one line per problem,
// naming the variable and never its value) and graceful SIGTERM (readyz 503 or refused,
// in-flight requests finish, exit 0 within 10 s). Spawns the real entry point.
import t from 'tap'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { emulatorUpstreamEnv } from '../emulator/service-env.js'
import type { UpstreamEmulator } from '../emulator/upstream-emulator.js'
import { CREDS, startEmulator } from './helpers/emulator.js'
import { eventually } from './helpers/eventually.js'
import { childEnv } from './helpers/child-env.js'
import { exchange, freePort, openConnection, type Connection } from './helpers/net.js'

function start (env: Record<string, string>): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: childEnv(env) })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  child.once('exit', () => { clearTimeout(timer) })
  return child
}

/** A service on a free loopback port whose `global` (and `bandwidth`, when asked) upstream is the emulator. */
function serviceEnv (emulator: UpstreamEmulator, env: Record<string, string>, withBandwidth = false): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    ...emulatorUpstreamEnv(emulator, CREDS, { upstreams: withBandwidth ? ['bandwidth', 'global'] : ['global'] }),
    ...env
  }
}

async function run (env: Record<string, string>): Promise<{ code: number | null, stderr: string, stdout: string }> {
  const child = start(env)
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stderr, stdout }
}

t.test('misconfiguration fails fast, naming each variable and never its value', async (t) => {
  const secret = 'Very$ecretValue-1234567890'
  const { code, stderr, stdout } = await run({
    BANDWIDTH_CLIENT_ID: 'only-half',
    GLOBAL_WEBRTC_CLIENT_SECRET: secret,
    API_KEYS: 'web:short',
    PORT: 'eighty'
  })
  t.not(code, 0)
  const lines = stderr.trim().split('\n')
  t.ok(lines.length >= 4, stderr)
  t.ok(lines.every((l) => l.startsWith('config error: ')), 'one line per problem')
  t.match(stderr, /BANDWIDTH_CLIENT_SECRET/)
  t.match(stderr, /GLOBAL_WEBRTC_CLIENT_ID/)
  t.match(stderr, /API_KEYS/)
  t.match(stderr, /PORT/)
  for (const value of [secret, 'only-half', 'short', 'eighty']) {
    t.notMatch(stderr + stdout, value, `the value ${value.slice(0, 4)}… is not printed`)
  }
})

t.test('SIGTERM drains: in-flight requests finish, exit 0 within 10 s', async (t) => {
  const emulator = await startEmulator(t)
  // bandwidth's provider hangs, so a bandwidth token request stays in flight until the
  // 4 s upstream timeout: that is the request SIGTERM must let finish.
  emulator.setFault('bandwidth', { kind: 'hang' })
  const key = 'k'.repeat(40)
  const { child, base, output } = await listening(serviceEnv(emulator, { API_KEYS: `ops:${key}`, UPSTREAM_TIMEOUT_MS: '4000' }, true))
  t.equal((await fetch(`${base}/readyz`)).status, 200)
  t.equal((await fetch(`${base}/token/webrtc`, { headers: { 'x-api-key': key } })).status, 200)

  const inflight = await openSocket(base, `GET /token/webrtc?upstream=bandwidth HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\n\r\n`)
  await readByService(base)
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, 'exit 0')
  t.match(output(), /"msg":"shutting down"/, 'the buffered log lines were written before the exit')
  const status = statusOf(await inflight.answer)
  t.ok(status === 503 || status === 200, `the in-flight request got an HTTP answer (${String(status)}), not a reset`)
  await t.rejects(fetch(`${base}/readyz`), 'the listener is closed afterwards')
  t.notMatch(output(), key)
  t.notMatch(output(), CREDS.global.clientSecret)
  t.notMatch(output(), CREDS.bandwidth.clientSecret)
})

t.test('SIGTERM and SIGHUP while the app loads (waiting on Redis): neither kills it; SIGTERM then exits 0', async (t) => {
  const emulator = await startEmulator(t)
  // A Redis that accepts the connection and never answers: startup waits on it for a while.
  const silent = createServer(() => {})
  const connected = new Promise<Socket>((resolve) => { silent.once('connection', resolve) })
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.teardown(() => { silent.close() })
  const redisUrl = `redis://127.0.0.1:${(silent.address() as AddressInfo).port}`
  const child = start(serviceEnv(emulator, { API_KEYS: `ops:${'k'.repeat(40)}`, REDIS_URL: redisUrl }))
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  const socket = await connected
  t.teardown(() => { socket.destroy() })
  // The app is loading now: its Redis plugin has connected and waits for an answer.
  child.kill('SIGHUP')
  child.kill('SIGTERM')
  const [code, signal] = await once(child, 'exit') as [number | null, string | null]
  t.same([code, signal], [0, null], 'closed by the service, not killed by either signal')
  t.match(stdout, /"msg":"shutting down"/)
})

/** Starts the server and resolves once it listens, with its base URL and everything it printed so far. */
async function listening (env: Record<string, string>): Promise<{ child: ChildProcessWithoutNullStreams, base: string, output: () => string }> {
  const child = start(env)
  let stdout = ''
  child.stderr.resume()
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)
      if (m !== null) resolve(m[1] as string)
    })
    child.once('exit', (code) => { reject(new Error(`server exited with ${String(code)}: ${stdout}`)) })
  })
  return { child, base, output: () => stdout }
}

/** A connection to the service at `base` that sends `bytes` (maybe nothing) and stays open. */
async function openSocket (base: string, bytes: string): Promise<Connection> {
  return await openConnection(Number(new URL(base).port), bytes)
}

/**
 * Resolves once the service has read what every connection opened before holds, without
 * assuming any timing: it accepts connections in order and reads each one's queued bytes no
 * later than a connection accepted after it, so answering a fresh connection proves it.
 */
async function readByService (base: string): Promise<void> {
  const reply = await exchange(Number(new URL(base).port), 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  if (!reply.startsWith('HTTP/1.1 200 ')) throw new Error(`healthz answered ${reply.slice(0, 40)}`)
}

/** The status of a raw HTTP answer, or the empty answer of a reset connection. */
function statusOf (answer: string): number | string {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(answer)
  return m === null ? `no HTTP answer (${answer.length} bytes)` : Number(m[1])
}

t.test('SIGTERM with an idle connection, a half-sent request and a hung provider: exit 0, the caller gets its 503', async (t) => {
  const emulator = await startEmulator(t)
  const key = 'k'.repeat(40)
  // The provider never answers, and the upstream timeout is far beyond the shutdown budget:
  // only aborting the wait at shutdown can answer the caller in time.
  emulator.setFault('global', { kind: 'hang' })
  const { child, base } = await listening(serviceEnv(emulator, { API_KEYS: `ops:${key}`, UPSTREAM_TIMEOUT_MS: '60000' }))
  const idle = await openSocket(base, '')
  const halfSent = await openSocket(base, 'GET /token/webrtc HTTP/1.1\r\nHost: x\r\nX-API-Key: ')
  // The prewarm request is held by the provider before the caller's request is sent, so the
  // caller joins it; the signal goes once the service has read the caller's request.
  await eventually(() => emulator.requests('global') >= 1, 'the prewarm request reached the provider')
  const inflight = await openSocket(base, `GET /token/webrtc HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\n\r\n`)
  await readByService(base)
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, 'exit 0: close-with-grace exits 1 past its 9 s budget')
  const answer = await inflight.answer
  t.equal(statusOf(answer), 503, 'the in-flight caller gets its 503, not a reset')
  t.match(answer, /\r\n\r\n\{"statusCode":503,"code":"UPSTREAM_UNAVAILABLE",/, 'with the contract\'s error body')
  const retryAfter = /\r\nretry-after: (\d+)\r\n/i.exec(answer)?.[1]
  t.ok(Number(retryAfter) >= 1, `with Retry-After (${String(retryAfter)})`)
  t.equal(await idle.answer, '', 'the idle connection was closed without an answer')
  t.equal(await halfSent.answer, '', 'so was the half-sent one')
})

t.test('METRICS_PORT: /metrics on that port only; the API port answers it 404; SIGTERM exits 0', async (t) => {
  const emulator = await startEmulator(t)
  const metricsPort = await freePort()
  const { child, base } = await listening(serviceEnv(emulator, { METRICS_PORT: String(metricsPort), API_KEYS: `ops:${'k'.repeat(40)}` }))
  t.teardown(() => { child.kill('SIGKILL') })
  const onApi = await fetch(`${base}/metrics`)
  t.equal(onApi.status, 404)
  t.equal((await onApi.json() as { code: string }).code, 'NOT_FOUND')
  let onMetrics: Response | undefined
  // The metrics listener opens right after the API's.
  await eventually(async () => {
    onMetrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined)
    return onMetrics !== undefined
  }, 'the metrics port to answer')
  t.equal(onMetrics?.status, 200)
  t.match(await onMetrics?.text(), /^# TYPE token_requests_total counter$/m)
  // A scraper's connection that never sends a byte must not hold the shutdown either.
  const idle = await openSocket(`http://127.0.0.1:${metricsPort}`, '')
  t.teardown(() => { idle.socket.destroy() })
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, 'exit 0 with an idle connection to the metrics port open')
})

t.test('SIGHUP re-reads the *_FILE files at once and keeps serving', async (t) => {
  const emulator = await startEmulator(t)
  const dir = t.testdir({ keys: `ops:${'1'.repeat(40)}\n` })
  const { child, base } = await listening(serviceEnv(emulator, {
    API_KEYS_FILE: `${dir}/keys`,
    // Far beyond the test: only SIGHUP can make the change visible.
    SECRET_FILES_POLL_SECONDS: '86400'
  }))
  t.teardown(() => { child.kill('SIGKILL') })
  const status = async (key: string): Promise<number> => (await fetch(`${base}/token/webrtc`, { headers: { 'x-api-key': key } })).status
  t.equal(await status('1'.repeat(40)), 200)
  writeFileSync(`${dir}/keys`, `ops:${'2'.repeat(40)}\n`)
  t.equal(await status('2'.repeat(40)), 401, 'not before the signal')
  child.kill('SIGHUP')
  // The reload settles for a moment after the signal; poll its visible effect.
  let after = 0
  await eventually(async () => (after = await status('2'.repeat(40))) === 200, 'the new key to be accepted')
  t.equal(after, 200, 'the new key is accepted')
  t.equal(await status('1'.repeat(40)), 401, 'the old one is revoked')
  t.equal(child.exitCode, null, 'SIGHUP did not stop the service')
  t.match(await (await fetch(`${base}/metrics`)).text(), /^config_reloads_total\{outcome="success"\} 1$/m)
})
