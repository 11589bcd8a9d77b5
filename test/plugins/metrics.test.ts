// The metrics plugin on its own and inside the app: outcome mapping, bounded upstream labels,
// a registry per app (two apps in one process do not share counts), the onFetch hook merged with
// a caller's own, and `redis_up` only when REDIS_URL is set, read loosely from `fastify.redis`.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import configPlugin from '../../src/plugins/config.js'
import metrics, { FETCH_OUTCOMES, requestedUpstream, tokenRequestOutcome } from '../../src/plugins/metrics.js'
import { loadConfig } from '../../src/config/load-config.js'
import type { FetchOutcome } from '../../src/token/types.js'
import { API_KEY, BASE_ENV, build } from '../helper.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { closedPort, sample } from '../faults/fixtures/wire.js'
import { redisSkip, startRedisServer } from '../helpers/redis-server.js'

t.test('status codes map to a fixed set of outcomes', async (t) => {
  const cases: Array<[number, string]> = [
    [200, 'served'], [204, 'served'], [400, 'bad_request'], [401, 'unauthorized'], [404, 'bad_request'],
    [413, 'bad_request'], [429, 'rate_limited'], [500, 'error'], [502, 'credentials_rejected'],
    [503, 'unavailable'], [504, 'error'], [302, 'error']
  ]
  for (const [status, outcome] of cases) t.equal(tokenRequestOutcome(status), outcome, String(status))
})

/** A bare instance: the config and the metrics plugin, nothing else (no token managers). */
async function bare (t: Test, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(configPlugin, { config: loadConfig({ ...BASE_ENV, ...env }) })
  await app.register(metrics)
  t.teardown(async () => { await app.close() })
  return app
}

t.test('without token managers the upstream is "unknown" and the expiry gauge is empty', async (t) => {
  const app = await bare(t)
  app.get('/token/webrtc', { onResponse: app.metrics.countTokenRequest }, async (request) => ({ upstream: requestedUpstream(request) }))
  await app.ready()
  t.same((await app.inject({ url: '/token/webrtc' })).json(), { upstream: 'unknown' })
  const text = await app.metrics.registry.metrics()
  t.equal(sample(text, 'token_requests_total{upstream="unknown",outcome="served"}'), 1)
  t.match(text, '# TYPE upstream_token_expiry_seconds gauge')
  t.notMatch(text, 'upstream_token_expiry_seconds{')
  t.notMatch(text, 'redis_up', 'no redis_up without REDIS_URL')
})

/** The metrics plugin reads `fastify.redis` loosely; these stand-ins have only the parts it reads. */
function decorateRedis (app: FastifyInstance, value: unknown): void {
  (app as unknown as { decorate: (name: string, value: unknown) => void }).decorate('redis', value)
}

t.test('redis_up exists only with REDIS_URL and reads fastify.redis at scrape time', async (t) => {
  const app = await bare(t, { REDIS_URL: 'redis://127.0.0.1:6379' })
  const value = async (): Promise<number | undefined> => sample(await app.metrics.registry.metrics(), 'redis_up')
  t.equal(await value(), 0, 'no redis decorator (yet): down')
  let up = false
  const state = { status: 'down', isUp: () => up }
  decorateRedis(app, state)
  t.equal(await value(), 0, 'isUp() false: down')
  up = true
  t.equal(await value(), 1, 'isUp() true: up')
  t.match(await app.metrics.registry.metrics(), /^# HELP redis_up .+\n# TYPE redis_up gauge$/m)
})

t.test('redis_up without isUp() reads status; null is down', async (t) => {
  for (const [redis, expected] of [
    [{ status: 'up' }, 1], [{ status: 'ready' }, 1], [{ status: 'down' }, 0], [{ status: 'connecting' }, 0], [{}, 0], [null, 0]
  ] as const) {
    const app = await bare(t, { REDIS_URL: 'redis://127.0.0.1:6379' })
    decorateRedis(app, redis)
    t.equal(sample(await app.metrics.registry.metrics(), 'redis_up'), expected, JSON.stringify(redis))
  }
})

t.test('in the app, redis_up follows the Redis plugin: down while Redis is unreachable', async (t) => {
  const port = await closedPort()
  const { app } = await build(t, {
    env: { REDIS_URL: `redis://127.0.0.1:${port}` },
    redis: { timings: { startupWaitMs: 50, connectTimeoutMs: 200, maxReconnectDelayMs: 200 } }
  })
  t.equal(sample((await app.inject({ url: '/metrics' })).body, 'redis_up'), 0)
})

t.test('in the app, redis_up is 1 with a live Redis', { skip: redisSkip() }, async (t) => {
  const server = await startRedisServer(t)
  const { app } = await build(t, { env: { REDIS_URL: server.url } })
  t.equal(sample((await app.inject({ url: '/metrics' })).body, 'redis_up'), 1)
})

t.test('the requested upstream is bounded: enabled ids, the default, or "unknown"', async (t) => {
  const { app } = await build(t, { env: { BANDWIDTH_CLIENT_ID: '', BANDWIDTH_CLIENT_SECRET: '' } })
  const cases: Array<[string, string]> = [
    ['/token/webrtc', 'global'],
    ['/token/webrtc?upstream=global', 'global'],
    ['/token/webrtc?upstream=bandwidth', 'unknown'], // disabled here
    ['/token/webrtc?upstream=GLOBAL', 'unknown'],
    ['/token/webrtc?upstream=global&upstream=global', 'unknown'],
    [`/token/webrtc?upstream=${'x'.repeat(500)}`, 'unknown'],
    ['/token/webrtc?upstream=%00%ff', 'unknown']
  ]
  for (const [url] of cases) await app.inject({ url, headers: { 'x-api-key': API_KEY } })
  const text = await app.metrics.registry.metrics()
  const labels = [...text.matchAll(/^token_requests_total\{upstream="([^"]*)"/gm)].map((m) => m[1])
  t.same([...new Set(labels)].sort(), ['global', 'unknown'])
  t.equal(sample(text, 'token_requests_total{upstream="global",outcome="served"}'), 2)
  t.equal(sample(text, 'token_requests_total{upstream="unknown",outcome="bad_request"}'), 5)
})

t.test('each app has its own registry; default process metrics appear in both', async (t) => {
  const one = await build(t)
  const two = await build(t)
  await one.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  await one.app.inject({ url: '/token/webrtc' })
  const a = await one.app.metrics.registry.metrics()
  const b = await two.app.metrics.registry.metrics()
  t.not(one.app.metrics.registry, two.app.metrics.registry)
  t.equal(sample(a, 'token_requests_total{upstream="global",outcome="served"}'), 1)
  t.equal(sample(a, 'token_requests_total{upstream="global",outcome="unauthorized"}'), 1)
  t.equal(sample(b, 'token_requests_total{upstream="global",outcome="served"}'), 0)
  for (const text of [a, b]) {
    t.match(text, /^process_resident_memory_bytes \d+/m)
    t.match(text, /^nodejs_eventloop_lag_seconds /m)
  }
})

t.test('onFetch feeds the metrics and still reaches a caller-provided hook', async (t) => {
  const seen: Array<[string, FetchOutcome]> = []
  const provider = fakeProvider()
  provider.respond((upstream) => upstream === 'bandwidth'
    ? new Response('nope', { status: 500 })
    : Response.json({ access_token: 'tok-global', token_type: 'Bearer', expires_in: 600 }))
  const { app } = await build(t, { provider, tokens: { onFetch: (u, o) => { seen.push([u, o]) } } })
  const res = await app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: { 'x-api-key': API_KEY } })
  t.equal(res.statusCode, 503, 'the failed prewarm is remembered')
  t.same(seen.sort(), [['bandwidth', 'server_error'], ['global', 'success']])
  const text = await app.metrics.registry.metrics()
  t.equal(sample(text, 'upstream_fetches_total{upstream="bandwidth",outcome="server_error"}'), 1)
  t.equal(sample(text, 'upstream_fetches_total{upstream="bandwidth",outcome="success"}'), 0)
  t.equal(sample(text, 'upstream_fetches_total{upstream="global",outcome="success"}'), 1)
  t.equal(sample(text, 'upstream_fetch_duration_seconds_count{upstream="global"}'), 1)
  t.equal(sample(text, 'upstream_fetch_duration_seconds_count{upstream="bandwidth"}'), 1)
  t.equal(sample(text, 'token_requests_total{upstream="bandwidth",outcome="unavailable"}'), 1)
})

t.test('recordFetch: every outcome has a series from the start; negative durations count as 0', async (t) => {
  const { app } = await build(t)
  const before = await app.metrics.registry.metrics()
  for (const outcome of FETCH_OUTCOMES) {
    t.equal(sample(before, `upstream_fetches_total{upstream="bandwidth",outcome="${outcome}"}`), outcome === 'success' ? 1 : 0, outcome)
  }
  app.metrics.recordFetch('bandwidth', 'timeout', -5)
  const after = await app.metrics.registry.metrics()
  t.equal(sample(after, 'upstream_fetches_total{upstream="bandwidth",outcome="timeout"}'), 1)
  t.equal(sample(after, 'upstream_fetch_duration_seconds_bucket{le="0.025",upstream="bandwidth"}'), 2)
})
