// The redis plugin inside the app (src/plugins/redis.ts): nothing changes without REDIS_URL;
// with it, `fastify.redis` is the connection, /readyz and the `redis_up` gauge show its state
// (never the URL or its password), state changes are logged once with a log-safe error class,
// a bad password or closed app never crashes anything, and closing the app closes the connection.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { API_KEY, build } from '../helpers/build.js'
import { eventually } from '../helpers/eventually.js'
import { sample } from '../helpers/output.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer } from '../helpers/redis-server.js'

const skip = redisSkip()
const PASSWORD = 'redis-Pa55word-do-not-log'

/** The `redis_up` sample from /metrics, or undefined when the series is absent. */
async function redisUp (app: FastifyInstance): Promise<number | undefined> {
  return sample((await app.inject('/metrics')).body, 'redis_up')
}

t.test('without REDIS_URL: fastify.redis is null and /readyz has no redis field', async (t) => {
  const { app } = await build(t)
  t.equal(app.redis, null)
  const body = (await app.inject('/readyz')).json()
  t.notOk('redis' in body)
  t.equal(await redisUp(app), undefined, 'no redis_up gauge')
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).statusCode, 200)
})

t.test('with REDIS_URL: up in /readyz, one log line, nothing secret, closed with the app', { skip }, async (t) => {
  const server = await startRedisServer(t, { password: PASSWORD })
  const { app, logs } = await build(t, { env: { REDIS_URL: server.url }, redis: { timings: PATIENT_TIMINGS } })
  const state = app.redis
  t.not(state, null)
  t.equal(state?.status, 'up')
  t.equal(state?.isUp(), true)
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 200)
  t.equal(res.json().redis, 'up')
  t.equal(await redisUp(app), 1)
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).statusCode, 200)
  const connected = logs.filter((l) => l.includes('redis connected'))
  t.equal(connected.length, 1)
  t.match(JSON.parse(connected[0] as string), { level: 30, redis: 'up' })

  await app.close()
  t.equal(state?.client.status, 'end', 'connection closed with the app')
  t.notOk(logs.some((l) => l.includes('redis connection lost')), 'closing is not an outage')
  const everything = logs.join('\n') + res.body
  t.notMatch(everything, PASSWORD)
  t.notMatch(everything, String(server.port), 'not even the address')
})

t.test('a wrong password: redis down, the app serves anyway, the password is never logged', { skip }, async (t) => {
  const server = await startRedisServer(t, { password: PASSWORD })
  const wrong = `redis://:${encodeURIComponent('wrong-' + PASSWORD)}@127.0.0.1:${server.port}`
  // The refusal settles startup long before this cap, however busy the machine: its class is the reply's, not 'timeout'.
  const { app, logs } = await build(t, { env: { REDIS_URL: wrong }, redis: { timings: { ...PATIENT_TIMINGS, startupWaitMs: 30_000 } } })
  t.equal(app.redis?.status, 'down')
  t.equal((await app.inject('/readyz')).json().redis, 'down')
  const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  t.equal(res.statusCode, 200, 'tokens and rate limits work locally')
  const down = logs.filter((l) => l.includes('redis unreachable'))
  t.equal(down.length, 1, 'logged once')
  t.match(JSON.parse(down[0] as string), { level: 40, redis: 'down', errorClass: 'ReplyError' }, 'the error class, not the reply text')
  t.notMatch(logs.join('\n'), /WRONGPASS/)
  t.notMatch(logs.join('\n'), PASSWORD)
  t.equal(await redisUp(app), 0)
})

t.test('redis_up and /readyz follow a crash and a restart; each change logged once', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const { app, logs } = await build(t, { env: { REDIS_URL: server.url }, redis: { timings: PATIENT_TIMINGS } })
  t.equal(await redisUp(app), 1)
  await server.kill()
  await eventually(async () => await redisUp(app) === 0, 'redis_up 0 after the crash')
  t.equal((await app.inject('/readyz')).json().redis, 'down')
  t.equal((await app.inject('/readyz')).statusCode, 200, 'Redis down is not unready')
  await server.restart()
  await eventually(async () => await redisUp(app) === 1, 'redis_up 1 after the restart')
  t.equal((await app.inject('/readyz')).json().redis, 'up')
  const lost = logs.filter((l) => l.includes('redis connection lost'))
  t.equal(lost.length, 1)
  t.match(JSON.parse(lost[0] as string), { level: 40, redis: 'down', errorClass: /^[A-Za-z][A-Za-z0-9_]*$/ })
  t.equal(logs.filter((l) => l.includes('redis connection restored')).length, 1)
})

t.test('closing while Redis was never reached stops the reconnect loop', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const port = server.port
  await server.stop()
  const { app } = await build(t, { env: { REDIS_URL: `redis://127.0.0.1:${port}` } })
  const state = app.redis
  t.equal(state?.status, 'down')
  await app.close()
  await server.restart()
  // A negative, so a plain wait: long enough for several reconnect attempts (every 200 ms at first).
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.not(state?.client.status, 'ready', 'no reconnect after close')
  t.equal(state?.status, 'down')
})
