// The fetch lock against a real redis-server: one owner at a time, released only by its owner,
// expiring on its own when the owner disappears.
import t from 'tap'
import { acquireLock, releaseLock } from '../../src/redis/lock.js'
import { eventually } from '../helpers/eventually.js'
import { redisSkip, startRedisServer } from '../helpers/redis-server.js'

t.test('SET NX PX with a unique value; only the owner releases it', { skip: redisSkip() }, async (t) => {
  const server = await startRedisServer(t)
  const client = server.client()
  const first = await acquireLock(client, 'wts:lock:k', 10_000)
  t.type(first, 'string')
  t.match(first, /^[0-9a-f]{32}$/)
  t.equal(await acquireLock(client, 'wts:lock:k', 10_000), undefined, 'held: a second caller loses')
  const ttl = await client.pttl('wts:lock:k')
  t.ok(ttl > 0 && ttl <= 10_000, 'expires on its own')

  t.equal(await releaseLock(client, 'wts:lock:k', 'not-the-owner'), false, 'a stranger cannot release it')
  t.equal(await client.get('wts:lock:k'), first, 'still held by its owner')
  t.equal(await releaseLock(client, 'wts:lock:k', first as string), true)
  t.equal(await client.exists('wts:lock:k'), 0)
  t.equal(await releaseLock(client, 'wts:lock:k', first as string), false, 'releasing twice is a no-op')

  const second = await acquireLock(client, 'wts:lock:k', 10_000)
  t.not(second, first, 'each owner has its own value')
})

t.test('an expired lock can be taken again, and the late owner cannot delete the new one', { skip: redisSkip() }, async (t) => {
  const server = await startRedisServer(t)
  const client = server.client()
  const late = await acquireLock(client, 'wts:lock:x', 0.2) as string
  t.type(late, 'string', 'a sub-millisecond ttl still makes a valid PX (1 ms)')
  await eventually(async () => await client.exists('wts:lock:x') === 0, 'Redis expired the 1 ms lock')
  const next = await acquireLock(client, 'wts:lock:x', 10_000)
  t.type(next, 'string')
  t.equal(await releaseLock(client, 'wts:lock:x', late), false)
  t.equal(await client.get('wts:lock:x'), next)
})
