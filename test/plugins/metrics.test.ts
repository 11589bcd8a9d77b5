// The metrics plugin on its own and inside the app: outcome mapping, bounded upstream labels,
// a registry per app (two apps in one process do not share counts), provider requests counted,
// gauges added by the plugins that own the state, and `redis_up` only when REDIS_URL is set.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import metrics, { FETCH_OUTCOMES, tokenRequestOutcome } from '../../src/plugins/metrics.js'
import { API_KEY, build } from '../helpers/build.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { closedPort } from '../helpers/net.js'
import { sample } from '../helpers/output.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer } from '../helpers/redis-server.js'

t.test('status codes map to a fixed set of outcomes', async (t) => {
  const cases: Array<[number, string]> = [
    [200, 'served'], [204, 'served'], [400, 'bad_request'], [401, 'unauthorized'], [404, 'bad_request'],
    [413, 'bad_request'], [429, 'rate_limited'], [500, 'error'], [502, 'credentials_rejected'],
    [503, 'unavailable'], [504, 'error'], [302, 'error']
  ]
  for (const [status, outcome] of cases) t.equal(tokenRequestOutcome(status), outcome, String(status))
})

/** A bare instance: the metrics plugin, nothing else. */
async function bare (t: Test): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(metrics)
  t.teardown(async () => { await app.close() })
  return app
}

t.test('alone, the plugin records what it is told and adds the gauges other plugins own', async (t) => {
  const app = await bare(t)
  await app.ready()
  app.metrics.tokenRequest('unknown', 400)
  app.metrics.tokenRequest('unknown', 400)
  app.metrics.malformedRequest('bad_url')
  let calls = 0
  app.metrics.gauge('test_gauge', 'A gauge read at scrape time.', ['kind'], (set) => {
    calls++
    set(calls, { kind: 'a' })
  })
  app.metrics.gauge('test_plain', 'A gauge without labels.', [], (set) => { set(7) })
  const text = await app.metrics.registry.metrics()
  t.equal(sample(text, 'token_requests_total{upstream="unknown",outcome="bad_request"}'), 2)
  t.equal(sample(text, 'malformed_requests_total{reason="bad_url"}'), 1)
  t.equal(sample(text, 'test_gauge{kind="a"}'), 1, 'collected once per scrape')
  t.equal(sample(text, 'test_plain'), 7)
  t.equal(sample(await app.metrics.registry.metrics(), 'test_gauge{kind="a"}'), 2)
  t.notMatch(text, 'redis_up', 'no redis_up: the Redis plugin owns it')
  t.notMatch(text, 'upstream_token_expiry_seconds', 'the tokens plugin owns it')
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
  const { app } = await build(t, { env: { REDIS_URL: server.url }, redis: { timings: PATIENT_TIMINGS } })
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

t.test('every provider request feeds the metrics', async (t) => {
  const provider = fakeProvider()
  provider.respond((upstream) => upstream === 'bandwidth'
    ? new Response('nope', { status: 500 })
    : Response.json({ access_token: 'tok-global', token_type: 'Bearer', expires_in: 600 }))
  const { app } = await build(t, { provider })
  const res = await app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: { 'x-api-key': API_KEY } })
  t.equal(res.statusCode, 503, 'the failed prewarm is remembered')
  const text = await app.metrics.registry.metrics()
  t.equal(sample(text, 'upstream_fetches_total{upstream="bandwidth",outcome="server_error"}'), 1)
  t.equal(sample(text, 'upstream_fetches_total{upstream="bandwidth",outcome="success"}'), 0)
  t.equal(sample(text, 'upstream_fetches_total{upstream="global",outcome="success"}'), 1)
  t.equal(sample(text, 'upstream_fetch_duration_seconds_count{upstream="global"}'), 1)
  t.equal(sample(text, 'upstream_fetch_duration_seconds_count{upstream="bandwidth"}'), 1)
  t.equal(sample(text, 'token_requests_total{upstream="bandwidth",outcome="unavailable"}'), 1)
})

t.test('upstreamFetch: every outcome has a series from the start; negative durations count as 0', async (t) => {
  const { app } = await build(t)
  const before = await app.metrics.registry.metrics()
  for (const outcome of FETCH_OUTCOMES) {
    t.equal(sample(before, `upstream_fetches_total{upstream="bandwidth",outcome="${outcome}"}`), outcome === 'success' ? 1 : 0, outcome)
  }
  app.metrics.upstreamFetch('bandwidth', 'timeout', -5)
  const after = await app.metrics.registry.metrics()
  t.equal(sample(after, 'upstream_fetches_total{upstream="bandwidth",outcome="timeout"}'), 1)
  t.equal(sample(after, 'upstream_fetch_duration_seconds_bucket{le="0.025",upstream="bandwidth"}'), 2)
})
