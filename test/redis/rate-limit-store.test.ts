// The rate-limit store: counts in Redis while it is up, locally while it is down or a command
// fails, so a Redis outage loosens the limit (per replica) but never switches it off.
import t from 'tap'
import { Secret } from '../../src/lib/secret.js'
import { RedisConnection } from '../../src/redis/connection.js'
import { sharedRateLimitStore } from '../../src/redis/rate-limit-store.js'
import { redisSkip, startRedisServer } from '../helpers/redis-server.js'

const skip = redisSkip()
const silent = { debug () {}, info () {}, warn () {}, error () {} }

interface Counted { current: number, ttl: number }
interface Incr { incr (key: string, cb: (err: Error | null, res?: Counted) => void, timeWindow: number, max: number): void, child (params: object): Incr }

t.test('Redis counters while up; local counters while down or failing', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const connection = new RedisConnection(new Secret(server.url), { logger: silent })
  t.teardown(async () => { await connection.close() })
  await connection.settled()
  const link = { up: true, client: connection.client, isUp: () => link.up }
  const Store = sharedRateLimitStore(link, 'test:rl:')
  const store = (new Store({}) as unknown as Incr).child({ continueExceeding: false })
  const incr = async (key: string): Promise<Counted> => await new Promise((resolve, reject) => {
    store.incr(key, (err, res) => { err === null ? resolve(res as Counted) : reject(err) }, 60_000, 10)
  })

  t.match(await incr('k'), { current: 1 })
  t.match(await incr('k'), { current: 2 })
  t.equal(await server.client().get('test:rl:k'), '2', 'shared counter in Redis')
  const ttl = await server.client().pttl('test:rl:k')
  t.ok(ttl > 0 && ttl <= 60_000)

  link.up = false
  t.match(await incr('k'), { current: 1 }, 'down: a local counter of its own')
  t.match(await incr('k'), { current: 2 })
  t.equal(await server.client().get('test:rl:k'), '2', 'Redis untouched while down')

  link.up = true
  connection.client.disconnect()
  t.match(await incr('k'), { current: 3 }, 'a failing command: counted locally, not skipped')
})
