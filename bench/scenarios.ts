// The rows the benchmark measures (bare Fastify, the bare-reply replay, the naive token server,
// and the service by API key, JWT, 100 rotating JWTs and a bad key), built on this process's
// fixtures, and how one is checked and measured. Every mode (full run, refresh, profile,
// compare) measures through measure(), so all report alike.
import type { AutocannonRequest } from 'autocannon'
import type { BenchChild } from './child.js'
import type { Fixtures } from './fixtures.js'
import { isExpected, runLoad, type LoadRun } from './load.js'
import { log } from './output.js'
import { CONNECTIONS, WARMUP_S, type Settings } from './settings.js'

export type ScenarioName = 'bare' | 'bare-reply' | 'naive' | 'api-key' | 'jwt' | 'jwt-pool' | 'bad-key'
/** Which process serves a row: bench/bare-fastify.ts, bench/naive.ts or bench/service.ts. */
export type ServerKind = 'bare' | 'naive' | 'service'
export interface Scenario { name: ScenarioName, label: string, server: ServerKind, requests: AutocannonRequest[], expectStatus: number }
export type Servers = Readonly<Record<ServerKind, BenchChild>>

/** What every mode runs with: the settings, the fixtures and the scenarios built on them. */
export interface BenchContext {
  readonly settings: Settings
  readonly fixtures: Fixtures
  readonly scenarios: readonly Scenario[]
}

export const TOKEN = '/token/webrtc'

export function createScenarios ({ apiKey, badKey, jwt, jwtPool }: Fixtures): Scenario[] {
  const bearer = (token: string): AutocannonRequest => ({ method: 'GET', path: TOKEN, headers: { authorization: `Bearer ${token}` } })
  return [
    { name: 'bare', label: 'bare Fastify hello-world', server: 'bare', requests: [{ method: 'GET', path: '/' }], expectStatus: 200 },
    { name: 'bare-reply', label: 'bare Fastify, the API-key reply replayed', server: 'bare', requests: [{ method: 'GET', path: '/replay' }], expectStatus: 200 },
    { name: 'naive', label: 'naive token server, API key', server: 'naive', requests: [{ method: 'GET', path: TOKEN, headers: { 'x-api-key': apiKey } }], expectStatus: 200 },
    { name: 'api-key', label: '/token/webrtc, API key', server: 'service', requests: [{ method: 'GET', path: TOKEN, headers: { 'x-api-key': apiKey } }], expectStatus: 200 },
    { name: 'jwt', label: '/token/webrtc, RS256 JWT (same)', server: 'service', requests: [bearer(jwt)], expectStatus: 200 },
    { name: 'jwt-pool', label: '/token/webrtc, 100 JWTs (rotating)', server: 'service', requests: jwtPool.map(bearer), expectStatus: 200 },
    { name: 'bad-key', label: '/token/webrtc, bad key → 401 (req/s of 401s)', server: 'service', requests: [{ method: 'GET', path: TOKEN, headers: { 'x-api-key': badKey } }], expectStatus: 401 }
  ]
}

export function scenario (scenarios: readonly Scenario[], name: string): Scenario {
  const found = scenarios.find((s) => s.name === name)
  if (found === undefined) throw new Error(`unknown scenario ${name}; one of ${scenarios.map((s) => s.name).join(', ')}`)
  return found
}

/** Hop-by-hop and per-response headers: Node writes its own for the replay. */
const NOT_REPLAYED = new Set(['connection', 'keep-alive', 'date', 'content-length', 'transfer-encoding'])

/**
 * Records one API-key reply of the service and has bare Fastify replay it on GET /replay: the
 * `bare-reply` row then prices the reply's bytes (the token, the security headers) alone.
 */
export async function replayServiceReply (bare: BenchChild, service: BenchChild, apiKey: string): Promise<void> {
  const res = await fetch(`${service.url}${TOKEN}`, { headers: { 'x-api-key': apiKey } })
  const body = await res.text()
  if (res.status !== 200) throw new Error(`recording the service's reply: expected 200, got ${res.status}`)
  const headers: Record<string, string> = {}
  res.headers.forEach((value, name) => { if (!NOT_REPLAYED.has(name)) headers[name] = value })
  await bare.replay({ status: res.status, headers, body })
}

/** One request per row before measuring: a misconfigured run must fail, not measure 401s. */
export async function checkScenarios (scenarios: readonly Scenario[], servers: Servers): Promise<void> {
  for (const s of scenarios) {
    const request = s.requests[0] as AutocannonRequest
    const res = await fetch(servers[s.server].url + (request.path ?? '/'), { headers: request.headers })
    await res.arrayBuffer()
    if (!isExpected(res.status, s.expectStatus)) throw new Error(`${s.name}: expected ${s.expectStatus}, got ${res.status}`)
  }
}

export async function measure (s: Scenario, server: BenchChild, durationS: number, warmupS = WARMUP_S): Promise<LoadRun> {
  const run = await runLoad({
    url: server.url,
    connections: CONNECTIONS,
    durationS,
    warmupS,
    requests: s.requests,
    expectStatus: s.expectStatus,
    cpuUs: async () => (await server.stats()).cpuUs
  })
  const what = isExpected(200, s.expectStatus) ? '2xx/s' : `${s.expectStatus}/s`
  log(`${s.name.padEnd(10)} ${Math.round(run.rps).toString().padStart(6)} ${what}  ${run.cpuUsPerRequest.toFixed(0).padStart(4)} µs CPU/req  p50 ${run.p50Ms.toFixed(2)} ms  p99 ${run.p99Ms.toFixed(2)} ms  max ${run.maxMs.toFixed(1)} ms  non-2xx ${run.non2xx}  (ramp-up ${run.rampMs.toFixed(0)} ms)${run.unexpected > 0 ? `  UNEXPECTED ${run.unexpected}` : ''}`)
  return run
}
