// The sweep's Redis lock (src/brtc/sweep-lock.ts) against a real redis-server: one holder per
// interval (the key expires after it, and is not released after a sweep), released on demand
// for a sweep cut short, and 'unavailable' (sweep alone) while Redis is down or failing.
import t from 'tap'
import { redisSweepLock, SWEEP_LOCK_PREFIX } from '../../src/brtc/sweep-lock.js'
import { RedisConnection } from '../../src/redis/connection.js'
import { Secret } from '../../src/lib/secret.js'
import { eventually } from '../helpers/eventually.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer } from '../helpers/redis-server.js'
import { captureLogger } from '../helpers/capture-logger.js'

const skip = redisSkip()

t.test('one holder per interval; release lets the next one in', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const connect = async (): Promise<RedisConnection> => {
    const connection = new RedisConnection(new Secret(server.url), { logger: captureLogger(), timings: PATIENT_TIMINGS })
    t.teardown(async () => { await connection.close() })
    await connection.settled()
    return connection
  }
  const a = redisSweepLock({ redis: await connect(), accountId: '9900000', ttlMs: 60_000 })
  const b = redisSweepLock({ redis: await connect(), accountId: '9900000', ttlMs: 60_000 })
  const other = redisSweepLock({ redis: await connect(), accountId: '12345', ttlMs: 60_000 })
  t.equal(await a.acquire(), 'acquired')
  t.equal(await b.acquire(), 'held')
  t.equal(await other.acquire(), 'acquired', 'another account sweeps apart')
  const ttl = await server.client().pttl(`${SWEEP_LOCK_PREFIX}9900000`)
  t.ok(ttl > 0 && ttl <= 60_000, `held, with an expiry of at most the interval (${ttl} ms)`)
  await b.release()
  t.equal(await b.acquire(), 'held', 'a replica that does not hold it cannot release it')
  await a.release()
  t.equal(await server.client().exists(`${SWEEP_LOCK_PREFIX}9900000`), 0, 'released')
  t.equal(await b.acquire(), 'acquired')
  await a.release()
  t.equal(await server.client().exists(`${SWEEP_LOCK_PREFIX}9900000`), 1, 'a second release by the old holder does nothing')
})

t.test('Redis down or failing: unavailable, so the replica sweeps alone', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const log = captureLogger()
  const connection = new RedisConnection(new Secret(server.url), {
    logger: log, timings: { connectTimeoutMs: 500, commandTimeoutMs: 300, socketTimeoutMs: 600, maxReconnectDelayMs: 100, startupWaitMs: 2000 }
  })
  t.teardown(async () => { await connection.close() })
  await connection.settled()
  const lock = redisSweepLock({ redis: connection, accountId: '9900000', ttlMs: 60_000, logger: log })
  server.pause()
  t.teardown(() => { server.resume() })
  t.equal(await lock.acquire(), 'unavailable', 'a command that times out')
  t.ok(log.lines.some((l) => l.level === 'debug' && /redis lock unavailable/.test(l.msg)))
  server.resume()
  await server.kill()
  await eventually(() => !connection.isUp(), 'redis down')
  t.equal(await lock.acquire(), 'unavailable', 'not connected')
  await t.resolves(lock.release(), 'release with nothing held does nothing')
})
