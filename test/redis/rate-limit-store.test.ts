// The shared rate-limit store (src/redis/rate-limit-store.ts), as @fastify/rate-limit uses it:
// `incr` counts in Redis while it is up, locally while it is down or a command fails, so an
// outage loosens the limit (per replica) but never switches it off; `read` reports without
// counting, in Redis and in the fallback; windows expire; `child()` keeps local counters apart;
// and Redis keys are digests, so no caller name or client address is stored in clear (checked
// on the store and on the app's own `wts:rl:` keys).
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyRateLimitStore } from '@fastify/rate-limit'
import { silentLogger } from '../../src/lib/logger.js'
import { Secret } from '../../src/lib/secret.js'
import { RedisConnection } from '../../src/redis/connection.js'
import { sharedRateLimitStore } from '../../src/redis/rate-limit-store.js'
import { build } from '../helpers/build.js'
import { PATIENT_TIMINGS, rateLimitKey, redisSkip, startRedisServer } from '../helpers/redis-server.js'

const skip = redisSkip()

interface Counted { current: number, ttl: number }
/** The store as the library calls it: both methods take (key, cb, windowMs, max). */
type Store = FastifyRateLimitStore & { read: FastifyRateLimitStore['incr'] }

async function call (store: Store, method: 'incr' | 'read', key: string, windowMs = 60_000): Promise<Counted> {
  return await new Promise((resolve, reject) => {
    store[method](key, (err, res) => { err === null ? resolve(res as Counted) : reject(err) }, windowMs, 10)
  })
}

async function setup (t: Test) {
  const server = await startRedisServer(t)
  const connection = new RedisConnection(new Secret(server.url), { logger: silentLogger, timings: PATIENT_TIMINGS })
  t.teardown(async () => { await connection.close() })
  await connection.settled()
  const link = { up: true, client: connection.client, isUp: () => link.up }
  const Ctor = sharedRateLimitStore(link, 'test:rl:')
  const root = new Ctor({})
  const store = root.child({} as never) as Store
  return { server, redis: server.client(), connection, link, Ctor, store }
}

t.test('Redis counters while up; local counters while down or failing', { skip }, async (t) => {
  const { redis, connection, link, store } = await setup(t)
  const key = rateLimitKey('k', 'test:rl:')

  t.match(await call(store, 'incr', 'k'), { current: 1 })
  const second = await call(store, 'incr', 'k')
  t.equal(second.current, 2)
  t.ok(second.ttl > 0 && second.ttl <= 60_000, 'the window\'s time left')
  t.equal(await redis.get(key), '2', 'shared counter in Redis')
  const ttl = await redis.pttl(key)
  t.ok(ttl > 0 && ttl <= 60_000, 'the counter expires with its window')

  link.up = false
  t.match(await call(store, 'incr', 'k'), { current: 1 }, 'down: a local counter of its own')
  t.match(await call(store, 'incr', 'k'), { current: 2 })
  t.equal(await redis.get(key), '2', 'Redis untouched while down')

  link.up = true
  connection.client.disconnect()
  t.match(await call(store, 'incr', 'k'), { current: 3 }, 'a failing command: counted locally, not skipped')
})

t.test('read reports without counting, in Redis and in the local fallback', { skip }, async (t) => {
  const { redis, connection, link, store } = await setup(t)
  const key = rateLimitKey('addr', 'test:rl:')

  t.same(await call(store, 'read', 'addr'), { current: 0, ttl: 0 }, 'no window yet')
  t.equal(await redis.exists(key), 0, 'reading creates nothing')
  await call(store, 'incr', 'addr')
  await call(store, 'incr', 'addr')
  for (let i = 0; i < 3; i++) {
    const read = await call(store, 'read', 'addr')
    t.equal(read.current, 2, 'Redis: the count as it is')
    t.ok(read.ttl > 0 && read.ttl <= 60_000)
  }
  t.equal(await redis.get(key), '2', 'Redis: reads did not increment')
  t.match(await call(store, 'incr', 'addr'), { current: 3 })

  link.up = false
  t.same(await call(store, 'read', 'addr'), { current: 0, ttl: 0 }, 'down: the local counter is empty')
  await call(store, 'incr', 'addr')
  for (let i = 0; i < 3; i++) t.match(await call(store, 'read', 'addr'), { current: 1 }, 'local: the count as it is')
  t.match(await call(store, 'incr', 'addr'), { current: 2 }, 'local: reads did not increment')

  link.up = true
  connection.client.disconnect()
  t.match(await call(store, 'read', 'addr'), { current: 2 }, 'a failing command: read from the local counter')
  t.equal(await redis.get(key), '3', 'Redis kept its own count')
})

t.test('windows expire, in Redis and locally; a Redis counter without expiry gets one', { skip }, async (t) => {
  const { redis, link, store } = await setup(t)
  // Only a lower bound on the wait matters here: a 1 ms window is over after 5 ms, however busy the machine.
  await call(store, 'incr', 'w', 1)
  await sleep(5)
  t.match(await call(store, 'incr', 'w', 1), { current: 1 }, 'Redis: a new window')

  const stuck = rateLimitKey('stuck', 'test:rl:')
  await redis.set(stuck, '5')
  t.same(await call(store, 'read', 'stuck'), { current: 5, ttl: 0 }, 'read: no expiry shows as no time left')
  const counted = await call(store, 'incr', 'stuck')
  t.equal(counted.current, 6)
  t.ok(counted.ttl > 0 && counted.ttl <= 60_000)
  const pttl = await redis.pttl(stuck)
  t.ok(pttl > 0 && pttl <= 60_000, 'INCR gave the key its window')

  link.up = false
  await call(store, 'incr', 'w', 1)
  await sleep(5)
  t.same(await call(store, 'read', 'w', 1), { current: 0, ttl: 0 }, 'local: the window is over')
  t.match(await call(store, 'incr', 'w', 1), { current: 1 }, 'local: a new window')
})

t.test('child stores: local counters apart, one Redis counter per key', { skip }, async (t) => {
  const { redis, link, Ctor } = await setup(t)
  const root = new Ctor({})
  const a = root.child({} as never) as Store
  const b = root.child({} as never) as Store
  await call(a, 'incr', 'shared')
  t.match(await call(b, 'incr', 'shared'), { current: 2 }, 'Redis: one counter for the key')
  t.equal(await redis.get(rateLimitKey('shared', 'test:rl:')), '2')
  link.up = false
  await call(a, 'incr', 'local')
  t.match(await call(b, 'incr', 'local'), { current: 1 }, 'local: each limiter counts apart')
})

t.test('the store\'s Redis keys are digests: no identity or address in clear', { skip }, async (t) => {
  const { redis, store } = await setup(t)
  for (const key of ['api_key:alice', 'jwt:alice@example.test', 'address:127.0.0.1', 'address:2001:db8::/64']) {
    await call(store, 'incr', key)
  }
  const keys = await redis.keys('test:rl:*')
  t.equal(keys.length, 4)
  for (const key of keys) t.match(key, /^test:rl:[A-Za-z0-9_-]{43}$/, 'namespace + base64url SHA-256')
  const all = keys.join('\n')
  for (const clear of ['alice', 'api_key', 'jwt', 'address', '127.0.0.1', '2001:db8']) t.notMatch(all, clear)
  t.equal(await redis.get(rateLimitKey('api_key:alice', 'test:rl:')), '1', 'the digest of the rate-limit key')
})

t.test('in the app: counters for a caller and a failing address are stored under digests only', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const aliceKey = 'alice-key-0123456789abcdef0123456789abcdef'
  const { app } = await build(t, {
    env: { REDIS_URL: server.url, API_KEYS: `alice:${aliceKey}` },
    redis: { timings: PATIENT_TIMINGS }
  })
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': aliceKey } })).statusCode, 200)
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': aliceKey } })).statusCode, 200)
  const refused = await app.inject({ url: '/token/webrtc', remoteAddress: '127.0.0.1', headers: { 'x-api-key': 'wrong-' + aliceKey } })
  t.equal(refused.statusCode, 401)

  const redis = server.client()
  const keys = (await redis.keys('wts:rl:*')).sort()
  t.same(keys, [rateLimitKey('address:127.0.0.1'), rateLimitKey('api_key:alice')].sort(),
    'one counter per caller identity and per failing address, named by digest')
  t.equal(await redis.get(rateLimitKey('api_key:alice')), '2')
  t.equal(await redis.get(rateLimitKey('address:127.0.0.1')), '1')
  const stored = [...keys, ...await Promise.all(keys.map(async (k) => await redis.get(k) ?? ''))].join('\n')
  t.notMatch(stored, 'alice', 'no caller name')
  t.notMatch(stored, '127.0.0.1', 'no client address')
  t.notMatch(stored, aliceKey)
})
