// Redis faults against a real redis-server, through the app: unreachable at startup, killed and
// restarted under load, and hung (SIGSTOP). The service keeps answering from its local cache and
// local rate limits, never with a 5xx while a token is servable, logs once per state change,
// shows the state in /readyz and reconnects on its own; once Redis is back, counters and the
// next refresh are shared again. Token time runs on a fake clock; the only real waits are
// bounded polls for Redis reconnects.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { API_KEY, OTHER_KEY, build, type Built } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { eventually } from '../helpers/eventually.js'
import { PATIENT_TIMINGS, rateLimitKey, redisSkip, startRedisServer } from '../helpers/redis-server.js'
import { freePort } from '../helpers/net.js'

const skip = redisSkip()

/** Quick reconnects, and replies never timed out by CPU load: for the tests that count exactly. */
const patient = { timings: PATIENT_TIMINGS }
/** Short timeouts, so a hung server is noticed quickly (production defaults are longer). */
const impatient = {
  timings: { connectTimeoutMs: 500, commandTimeoutMs: 300, socketTimeoutMs: 600, maxReconnectDelayMs: 100, startupWaitMs: 1000 }
}
/** Losers look at Redis often, so waits on another replica are short. */
const POLL = { redisPollMs: 10 }

const redisState = async (app: FastifyInstance): Promise<unknown> => (await app.inject('/readyz')).json().redis
const get = async (app: FastifyInstance, url = '/token/webrtc', key = API_KEY) => await app.inject({ url, headers: { 'x-api-key': key } })
const count = (logs: string[], text: string): number => logs.filter((l) => l.includes(text)).length

t.test('unreachable at startup: starts, serves with local limits, shows down, then comes up', { skip }, async (t) => {
  const port = await freePort()
  const { app, logs, provider } = await build(t, {
    env: { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_MAX: '3' },
    redis: patient,
    tokens: POLL
  })
  t.equal(await redisState(app), 'down')
  t.equal((await app.inject('/readyz')).statusCode, 200, 'Redis down is not unready')
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await get(app)).statusCode)
  t.same(statuses, [200, 200, 200, 429], 'local cache and local rate limit')
  t.equal(provider.calls.global, 1)
  t.equal(count(logs, 'redis unreachable'), 1)

  const server = await startRedisServer(t, { port })
  await eventually(async () => await redisState(app) === 'up', 'redis up')
  t.equal(count(logs, 'redis unreachable'), 1, 'reconnect attempts are not logged')
  t.equal(count(logs, 'redis connection restored'), 1)
  t.equal((await get(app, '/token/webrtc', OTHER_KEY)).statusCode, 200)
  t.equal(await server.client().get(rateLimitKey('api_key:mobile')), '1', 'counting in Redis again')
  t.equal(await server.client().exists(rateLimitKey('api_key:web')), 0, 'what was counted locally stays local')
})

t.test('Redis killed and restarted under load: no 5xx, local refresh meanwhile, shared again after', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const clock = new FakeClock()
  const provider = fakeProvider()
  const env = { REDIS_URL: server.url, RATE_LIMIT_MAX: '100000' }
  const apps: Built[] = []
  for (let i = 0; i < 2; i++) apps.push(await build(t, { env, provider, tokens: { clock, ...POLL }, redis: patient }))
  const [a, b] = apps as [Built, Built]
  await eventually(async () => provider.calls.global === 1 && provider.calls.bandwidth === 1, 'prewarmed once')

  const statuses: number[] = []
  for (let batch = 0; batch < 20; batch++) {
    if (batch === 5) await server.kill()
    // Past the refresh point of `global` (80 % of 600 s) while Redis is down: each replica refreshes locally.
    if (batch === 8) await clock.advanceAsync(500_000)
    if (batch === 14) await server.restart()
    const replies = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const { app } = apps[i % 2] as Built
      return await get(app, i % 3 === 0 ? '/token/webrtc?upstream=bandwidth' : '/token/webrtc')
    }))
    statuses.push(...replies.map((r) => r.statusCode))
  }
  t.equal(statuses.length, 200)
  t.same([...new Set(statuses)], [200], 'every request of the load loop served, none 5xx')
  await eventually(async () => provider.calls.global === 3, 'each replica refreshed global itself while Redis was down')
  for (const { app, logs } of apps) {
    await eventually(async () => await redisState(app) === 'up', 'redis up again')
    t.equal(count(logs, 'redis connection lost'), 1, 'loss logged once')
    t.equal(count(logs, 'redis connection restored'), 1, 'recovery logged once')
    t.match(logs.find((l) => l.includes('redis connection lost')), /"level":40/)
  }

  // The next refresh is shared again: one provider request for both replicas.
  await clock.advanceAsync(500_000)
  const token = async (built: Built): Promise<string> => (await get(built.app)).json().access_token
  const latest = (): string => provider.issued[provider.issued.length - 1] as string
  await eventually(async () => (provider.calls.global ?? 0) >= 4 && await token(a) === latest() && await token(b) === latest(), 'both replicas on the new token')
  t.equal(provider.calls.global, 4, 'one provider request per refresh again')
})

t.test('a hung Redis (SIGSTOP): requests still served, shown down, back up after SIGCONT', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const { app, logs } = await build(t, { env: { REDIS_URL: server.url }, redis: impatient, tokens: POLL })
  t.equal((await get(app)).statusCode, 200)
  // Counted from here: on a busy machine a reply can miss the short timeouts before the pause
  // too, which is a loss of its own, correctly logged.
  await eventually(async () => await redisState(app) === 'up', 'redis up before the pause')
  const lostBefore = count(logs, 'redis connection lost')
  const restoredBefore = count(logs, 'redis connection restored')
  server.pause()
  const statuses: number[] = []
  // Rate-limit calls time out (commandTimeout) and fall back to local counters, until the dead socket is dropped.
  for (let i = 0; i < 8; i++) statuses.push((await get(app)).statusCode)
  await eventually(async () => {
    statuses.push((await get(app)).statusCode)
    return await redisState(app) === 'down'
  }, 'redis shown down')
  t.same([...new Set(statuses)], [200], 'never a 5xx')
  t.equal(count(logs, 'redis connection lost') - lostBefore, 1, 'the hang logged once')
  server.resume()
  await eventually(async () => await redisState(app) === 'up', 'redis up after SIGCONT')
  t.equal((await get(app)).statusCode, 200)
  t.equal(count(logs, 'redis connection restored') - restoredBefore, 1, 'the recovery logged once')
})
