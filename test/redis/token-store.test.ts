// The shared token cache against a real redis-server, store by store (no Fastify): reads,
// freshness, the lock and its losers, encryption at rest, and falling back to a local fetch on
// every kind of Redis trouble. Token lifetimes run on fake clocks; only the bounded Redis
// polling uses real time.
import t, { type Test } from 'tap'
import type { UpstreamConfig } from '../../src/config/types.js'
import { Secret } from '../../src/lib/secret.js'
import { RedisConnection } from '../../src/redis/connection.js'
import { TokenCipher } from '../../src/redis/crypto.js'
import { SharedTokenStore, type RedisLink } from '../../src/redis/token-store.js'
import type { Logger, UpstreamToken } from '../../src/token/types.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer, type RedisServer } from '../helpers/redis-server.js'

const skip = redisSkip()
const SECRET = 'gl-secret-An0ther$ecret!'

const UPSTREAM: UpstreamConfig = {
  id: 'global',
  tokenUrl: new URL('https://global.provider.test/api/v1/oauth2/token'),
  clientId: 'gl-client',
  clientSecret: new Secret(SECRET),
  scope: 'voice.webrtc',
  expiryMarginSeconds: 30
}

interface Captured extends Logger { lines: Array<{ level: string, obj: object, msg?: string }> }

function captureLogger (): Captured {
  const lines: Captured['lines'] = []
  const at = (level: string) => (obj: object, msg?: string): void => { lines.push({ level, obj, msg }) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

let counter = 0
function token (clock: FakeClock, lifetimeSeconds = 600, value = `tok-${++counter}-Zq9`): UpstreamToken {
  return {
    accessToken: new Secret(value),
    tokenType: 'Bearer',
    tokenId: `id-${counter}`,
    expiresInSeconds: lifetimeSeconds,
    expiresAtMonotonic: clock.monotonic() + lifetimeSeconds * 1000
  }
}

/** A fetchFresh that counts calls and answers with `make()`. */
function fresh (make: () => UpstreamToken | Promise<UpstreamToken>): { fn: () => Promise<UpstreamToken>, calls: number } {
  const f = {
    calls: 0,
    fn: async () => {
      f.calls++
      return await make()
    }
  }
  return f
}

interface Replica { store: SharedTokenStore, clock: FakeClock, log: Captured, link: RedisLink & { up: boolean } }

async function setup (t: Test): Promise<{ server: RedisServer, replica: (opts?: { secret?: string, monotonic?: number, timeoutMs?: number, pollMs?: number }) => Promise<Replica> }> {
  const server = await startRedisServer(t)
  const replica = async (opts: { secret?: string, monotonic?: number, timeoutMs?: number, pollMs?: number } = {}): Promise<Replica> => {
    const connection = new RedisConnection(new Secret(server.url), { logger: captureLogger(), timings: PATIENT_TIMINGS })
    t.teardown(async () => { await connection.close() })
    await connection.settled()
    const link = { up: true, client: connection.client, isUp: () => link.up && connection.isUp() }
    const clock = new FakeClock({ monotonic: opts.monotonic ?? 1_000_000 })
    const log = captureLogger()
    const upstream = opts.secret === undefined ? UPSTREAM : { ...UPSTREAM, clientSecret: new Secret(opts.secret) }
    const store = new SharedTokenStore({ redis: link, upstream, timeoutMs: opts.timeoutMs ?? 5000, clock, logger: log, pollMs: opts.pollMs ?? 10 })
    return { store, clock, log, link }
  }
  return { server, replica }
}

t.test('cold: one replica fetches and shares; another reads it on its own clock', { skip }, async (t) => {
  const { server, replica } = await setup(t)
  const a = await replica()
  const b = await replica({ monotonic: 7_000_000 })
  const redis = server.client()

  const fetchA = fresh(() => token(a.clock))
  const got = await a.store.provide(undefined, fetchA.fn)
  t.equal(fetchA.calls, 1)
  t.equal(await redis.exists(a.store.lockKey), 0, 'lock released')
  const pttl = await redis.pttl(a.store.key)
  t.ok(pttl > 590_000 && pttl <= 600_000, 'the entry expires with the token')
  t.match(a.store.key, /^wts:token:[0-9a-f]{64}$/)

  const fetchB = fresh(() => token(b.clock))
  const shared = await b.store.provide(undefined, fetchB.fn)
  t.equal(fetchB.calls, 0, 'no second provider request')
  t.equal(shared.accessToken.reveal(), got.accessToken.reveal())
  t.equal(shared.tokenType, 'Bearer')
  t.equal(shared.tokenId, got.tokenId)
  t.equal(shared.expiresInSeconds, 600)
  const left = shared.expiresAtMonotonic - b.clock.monotonic()
  t.ok(left <= 600_000 && left > 590_000, 'expiry converted into the reader\'s monotonic clock')
})

t.test('wall-clock expiry is honoured as fake time passes; a token too close to its margin is a miss', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  await a.store.provide(undefined, fresh(() => token(a.clock)).fn)
  b.clock.advance(500_000)
  const read = await b.store.provide(undefined, fresh(() => token(b.clock)).fn)
  const left = read.expiresAtMonotonic - b.clock.monotonic()
  t.ok(left <= 100_000 && left > 90_000, 'the stored absolute expiry counts down on the reader\'s clock')

  const c = await replica()
  c.clock.advance(569_000)
  const fetchC = fresh(() => token(c.clock))
  await c.store.provide(undefined, fetchC.fn)
  t.equal(fetchC.calls, 1, '31 s left with a 30 s margin: not worth serving, fetched instead')
})

t.test('a refresh never takes back the same entry, nor an older token', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  const first = await a.store.provide(undefined, fresh(() => token(a.clock)).fn)
  const read = await b.store.provide(undefined, fresh(() => token(b.clock)).fn)
  // Refresh time (80 % of the lifetime) on both replicas.
  a.clock.advance(480_000)
  b.clock.advance(480_000)

  const fetchB = fresh(() => token(b.clock))
  const refreshed = await b.store.provide(read, fetchB.fn)
  t.equal(fetchB.calls, 1, 'same entry as lastToken: fetch')
  t.not(refreshed.accessToken.reveal(), first.accessToken.reveal())

  const fetchA = fresh(() => token(a.clock))
  const next = await a.store.provide(first, fetchA.fn)
  t.equal(fetchA.calls, 0, 'the writer takes the newer entry another replica wrote')
  t.equal(next.accessToken.reveal(), refreshed.accessToken.reveal())

  const c = await replica()
  const localNewer = token(c.clock, 3600)
  const fetchC = fresh(() => token(c.clock))
  await c.store.provide(localNewer, fetchC.fn)
  t.equal(fetchC.calls, 1, 'a stored token expiring before lastToken is not fresher')
})

t.test('concurrent replicas: the lock winner fetches, the losers wait for its token', { skip }, async (t) => {
  const { replica } = await setup(t)
  const replicas = await Promise.all([replica(), replica(), replica()])
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const fetches = replicas.map((r) => fresh(async () => {
    await gate
    return token(r.clock)
  }))
  const pending = replicas.map(async (r, i) => await r.store.provide(undefined, (fetches[i] as { fn: () => Promise<UpstreamToken> }).fn))
  // Let every replica reach the lock before the winner's provider request completes.
  await new Promise((resolve) => setTimeout(resolve, 50))
  release()
  const got = await Promise.all(pending)
  t.equal(fetches.reduce((n, f) => n + f.calls, 0), 1, 'one provider request for three replicas')
  t.equal(new Set(got.map((x) => x.accessToken.reveal())).size, 1, 'all hold the same token')
})

t.test('a winner whose fetch fails releases the lock; a waiting loser fetches itself', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  let fail: (err: Error) => void = () => {}
  const failing = new Promise<UpstreamToken>((_resolve, reject) => { fail = reject })
  const pendingA = a.store.provide(undefined, async () => await failing)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const fetchB = fresh(() => token(b.clock))
  const pendingB = b.store.provide(undefined, fetchB.fn)
  await new Promise((resolve) => setTimeout(resolve, 20))
  fail(new Error('provider down'))
  await t.rejects(pendingA, { message: 'provider down' }, 'the winner\'s own caller sees the provider failure')
  const got = await pendingB
  t.equal(fetchB.calls, 1)
  t.ok(got.accessToken.reveal().startsWith('tok-'))
})

t.test('a lock nobody releases: losers fall back after it expires, or after the bounded wait', { skip }, async (t) => {
  const { server, replica } = await setup(t)
  const redis = server.client()
  const a = await replica({ timeoutMs: 50, pollMs: 5 })

  await redis.set(a.store.lockKey, 'stranger', 'PX', 60)
  const expiring = fresh(() => token(a.clock))
  await a.store.provide(undefined, expiring.fn)
  t.equal(expiring.calls, 1, 'lock expired without a token: fetched')

  await redis.del(a.store.key)
  await redis.set(a.store.lockKey, 'stranger')
  const stuck = fresh(() => token(a.clock))
  await a.store.provide(undefined, stuck.fn)
  t.equal(stuck.calls, 1, 'a lock that never expires: fetched after the bounded wait')
  t.equal(await redis.get(a.store.lockKey), 'stranger', 'someone else\'s lock is never deleted')
})

t.test('an entry under another client secret is a miss, logged once at debug, never an error', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const rotated = await replica({ secret: 'the-next-client-secret' })
  await a.store.provide(undefined, fresh(() => token(a.clock)).fn)
  const fetch1 = fresh(() => token(rotated.clock))
  await rotated.store.provide(undefined, fetch1.fn)
  t.equal(fetch1.calls, 1)
  // Its own write replaced the entry; put the other one back and read again.
  await a.store.provide(undefined, fresh(() => token(a.clock)).fn)
  await a.store.provide(token(a.clock, 3600), fresh(() => token(a.clock)).fn)
  const fetch2 = fresh(() => token(rotated.clock))
  await rotated.store.provide(undefined, fetch2.fn)
  t.equal(fetch2.calls, 1)
  const unreadable = rotated.log.lines.filter((l) => /unreadable/.test(l.msg ?? ''))
  t.equal(unreadable.length, 1, 'logged once')
  t.equal(unreadable[0]?.level, 'debug')
})

t.test('malformed, non-expiring or wrong-type entries are misses or fallbacks', { skip }, async (t) => {
  const { server, replica } = await setup(t)
  const redis = server.client()
  const a = await replica()
  const cipher = new TokenCipher(UPSTREAM.clientSecret, a.store.key.slice('wts:token:'.length))
  const valid = { t: 'tok-valid', i: null, e: 600, x: a.clock.wall() + 600_000, n: 'entry' }

  const cases: Array<[string, () => Promise<unknown>]> = [
    ['authentic but not a payload', async () => await redis.set(a.store.key, cipher.encrypt('null'), 'PX', 60_000)],
    ['payload with an empty token', async () => await redis.set(a.store.key, cipher.encrypt(JSON.stringify({ ...valid, t: '' })), 'PX', 60_000)],
    ['payload with a bad lifetime', async () => await redis.set(a.store.key, cipher.encrypt(JSON.stringify({ ...valid, e: 'x' })), 'PX', 60_000)],
    ['payload without an entry id', async () => await redis.set(a.store.key, cipher.encrypt(JSON.stringify({ ...valid, n: 1 })), 'PX', 60_000)],
    ['no expiry on the key', async () => await redis.set(a.store.key, cipher.encrypt(JSON.stringify(valid)))],
    ['a hash where the entry should be (WRONGTYPE)', async () => { await redis.del(a.store.key); await redis.hset(a.store.key, 'f', 'v') }]
  ]
  for (const [name, prepare] of cases) {
    await prepare()
    const f = fresh(() => token(a.clock))
    const got = await a.store.provide(undefined, f.fn)
    t.equal(f.calls, 1, name)
    t.ok(got.accessToken.reveal().startsWith('tok-'), name)
    await redis.del(a.store.key)
  }
  await redis.set(a.store.key, cipher.encrypt(JSON.stringify({ ...valid, i: 'tid' })), 'PX', 600_000)
  const read = await a.store.provide(undefined, fresh(() => token(a.clock)).fn)
  t.equal(read.accessToken.reveal(), 'tok-valid', 'a well-formed entry written by anyone with the key is read')
  t.equal(read.tokenId, 'tid')
})

t.test('Redis down or failing: fetch locally, never fail the caller', { skip }, async (t) => {
  const { server, replica } = await setup(t)
  const redis = server.client()
  const a = await replica()

  a.link.up = false
  const whileDown = fresh(() => token(a.clock))
  const t1 = await a.store.provide(undefined, whileDown.fn)
  t.equal(whileDown.calls, 1)
  a.store.onUpdate(t1)
  a.link.up = true
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await redis.exists(a.store.key), 0, 'nothing written while down')

  a.store.onUpdate(t1)
  for (let i = 0; i < 100 && await redis.exists(a.store.key) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(await redis.exists(a.store.key), 1, 'a token fetched outside the lock is shared once Redis is up')
  const b = await replica()
  const fromRedis = await b.store.provide(undefined, fresh(() => token(b.clock)).fn)
  await redis.del(b.store.key)
  b.store.onUpdate(fromRedis)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await redis.exists(b.store.key), 0, 'a token read from Redis is not written back')
  b.store.onUpdate(token(b.clock, 1))
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await redis.exists(b.store.key), 0, 'a token about to expire is not shared')

  // The connection drops while the link still claims it is up: every Redis call rejects.
  a.link.client.disconnect()
  const broken = fresh(() => token(a.clock))
  await a.store.provide(undefined, broken.fn)
  t.equal(broken.calls, 1, 'read failure: fetched locally')
  a.store.onUpdate(token(a.clock))
  const writeFailed = (): boolean => a.log.lines.some((l) => l.level === 'debug' && (l.obj as { op?: string }).op === 'write')
  for (let i = 0; i < 200 && !writeFailed(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  t.ok(writeFailed(), 'a failed write is logged at debug')
  t.notOk(a.log.lines.some((l) => l.level !== 'debug'), 'nothing above debug from the store')
})

t.test('the winner keeps its token when Redis fails between fetch and write', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const got = await a.store.provide(undefined, async () => {
    a.link.client.disconnect()
    return token(a.clock, 600, 'tok-winner')
  })
  t.equal(got.accessToken.reveal(), 'tok-winner')
  const ops = a.log.lines.map((l) => (l.obj as { op?: string }).op)
  t.ok(ops.includes('write') && ops.includes('unlock'), 'write and unlock failures logged at debug')
})

t.test('a closed store stops using Redis, and stops waiting', { skip }, async (t) => {
  const { server, replica } = await setup(t)
  const redis = server.client()
  const a = await replica()
  await redis.set(a.store.lockKey, 'stranger')
  const waiting = fresh(() => token(a.clock))
  const pending = a.store.provide(undefined, waiting.fn)
  await new Promise((resolve) => setTimeout(resolve, 30))
  a.store.close()
  await pending
  t.equal(waiting.calls, 1, 'the waiting caller fetched itself')
  const after = fresh(() => token(a.clock))
  const got = await a.store.provide(undefined, after.fn)
  t.equal(after.calls, 1)
  a.store.onUpdate(got)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(await redis.exists(a.store.key), 0, 'nothing written after close')
})

t.test('a token without an access_token_id round-trips without one', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  await a.store.provide(undefined, fresh(() => ({ ...token(a.clock), tokenId: undefined })).fn)
  const read = await b.store.provide(undefined, fresh(() => token(b.clock)).fn)
  t.equal(read.tokenId, undefined)
  t.ok(read.accessToken.reveal().startsWith('tok-'))
})
