// SharedSource (src/token/sources/shared.ts) against a real redis-server, replica by replica
// (no Fastify): one replica fetches and shares, the others read on their own clocks; freshness
// and the expiry margin; wall-clock skew bounded by Redis's own countdown; the lock's winner and
// losers, a winner that gives up, a lock nobody releases; an abort stopping a waiting loser;
// entry names and keys following the client secret (and its rotation); unreadable, tampered and
// malformed entries as misses; and every kind of Redis trouble (down, failing, hung, wrong type)
// falling back to the wrapped source, never failing the caller. Token lifetimes run on fake
// clocks; only Redis round trips and the bounded polling use real time, and every wait on
// another replica waits for an event (its lock attempt refused, its provider called).
import t, { type Test } from 'tap'
import type { Redis } from 'ioredis'
import type { UpstreamConfig } from '../../../src/config/types.js'
import { Secret } from '../../../src/lib/secret.js'
import { RedisConnection, type RedisLink, type RedisTimings } from '../../../src/redis/connection.js'
import { TokenCipher } from '../../../src/redis/crypto.js'
import { SharedSource } from '../../../src/token/sources/shared.js'
import type { TokenSource, UpstreamToken } from '../../../src/token/types.js'
import { DEFAULT_WALL, FakeClock } from '../../helpers/fake-clock.js'
import { deferred } from '../../helpers/fake-provider.js'
import { upstreamToken } from '../../helpers/manager-harness.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer, type RedisServer } from '../../helpers/redis-server.js'
import { captureLogger, type LogLine } from '../../helpers/capture-logger.js'

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

let counter = 0
/** A token granted now on `clock`, with a value and id of its own (replicas tell tokens apart by them). */
function token (clock: FakeClock, lifetimeSeconds = 600, value = `tok-${++counter}-Zq9`): UpstreamToken {
  return upstreamToken(clock.monotonic(), { accessToken: value, expiresIn: lifetimeSeconds, tokenId: `id-${counter}` })
}

/** The wrapped source (the provider): counts calls, remembers signals, answers with `respond`. */
interface Inner extends TokenSource {
  calls: number
  signals: AbortSignal[]
  /** Resolves when the next call arrives. */
  called: () => Promise<void>
  respond: (last: UpstreamToken | undefined) => UpstreamToken | Promise<UpstreamToken>
}

function innerSource (clock: FakeClock): Inner {
  let waiters: Array<() => void> = []
  const inner: Inner = {
    calls: 0,
    signals: [],
    called: async () => { await new Promise<void>((resolve) => { waiters.push(resolve) }) },
    respond: () => token(clock),
    async fetch (last, signal) {
      inner.calls++
      inner.signals.push(signal)
      for (const w of waiters) w()
      waiters = []
      return await inner.respond(last)
    }
  }
  return inner
}

/** Counts lock attempts (SET … NX) that another owner's lock refused; `refused(n)` resolves once n were. */
class Refusals {
  count = 0
  #waiters: Array<{ n: number, resolve: () => void }> = []

  watch (client: Redis): void {
    const c = client as unknown as { set: (...args: unknown[]) => Promise<unknown> }
    const original = c.set.bind(client)
    c.set = async (...args: unknown[]) => {
      const reply = await original(...args)
      if (args.includes('NX') && reply === null) {
        this.count++
        this.#waiters = this.#waiters.filter((w) => {
          if (this.count < w.n) return true
          w.resolve()
          return false
        })
      }
      return reply
    }
  }

  async refused (n: number): Promise<void> {
    if (this.count >= n) return
    await new Promise<void>((resolve) => { this.#waiters.push({ n, resolve }) })
  }
}

interface Replica {
  source: SharedSource
  clock: FakeClock
  inner: Inner
  log: ReturnType<typeof captureLogger>
  /** `up` is what the source is told; set it false to simulate an outage. */
  link: RedisLink & { up: boolean }
  /** The upstream settings the source reads at each fetch (the secret may be swapped). */
  config: UpstreamConfig
  refusals: Refusals
  fetch: (last?: UpstreamToken, signal?: AbortSignal) => Promise<UpstreamToken>
  entryKey: () => Promise<string>
  lockKey: () => Promise<string>
}

interface ReplicaOptions {
  secret?: string
  monotonic?: number
  wall?: number
  timeoutMs?: number
  pollMs?: number
  timings?: Partial<RedisTimings>
}

async function setup (t: Test): Promise<{ server: RedisServer, redis: Redis, replica: (opts?: ReplicaOptions) => Promise<Replica> }> {
  const server = await startRedisServer(t)
  const replica = async (opts: ReplicaOptions = {}): Promise<Replica> => {
    const connection = new RedisConnection(new Secret(server.url), { logger: captureLogger(), timings: opts.timings ?? PATIENT_TIMINGS })
    t.teardown(async () => { await connection.close() })
    await connection.settled()
    // The test decides what "up" is, so a broken connection shows as failing commands.
    const link = { up: true, client: connection.client, isUp: () => link.up }
    const clock = new FakeClock({ monotonic: opts.monotonic ?? 1_000_000, wall: opts.wall ?? DEFAULT_WALL })
    const log = captureLogger()
    const inner = innerSource(clock)
    const config = { ...UPSTREAM, ...(opts.secret !== undefined && { clientSecret: new Secret(opts.secret) }) }
    const refusals = new Refusals()
    refusals.watch(connection.client)
    const source = new SharedSource({
      inner,
      redis: link,
      upstream: () => config,
      timeoutMs: opts.timeoutMs ?? 5000,
      clock,
      logger: log,
      pollMs: opts.pollMs ?? 10
    })
    return {
      source,
      clock,
      inner,
      log,
      link,
      config,
      refusals,
      fetch: async (last, signal) => await source.fetch(last, signal ?? new AbortController().signal),
      entryKey: async () => await source.entryKey(),
      lockKey: async () => (await source.entryKey()).replace(/^wts:token:/, 'wts:lock:')
    }
  }
  return { server, redis: server.client(), replica }
}

const debugOnly = (lines: LogLine[]): boolean => lines.every((l) => l.level === 'debug')

t.test('cold: one replica fetches and shares; another reads it on its own clock', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const b = await replica({ monotonic: 7_000_000 })

  const got = await a.fetch()
  t.equal(a.inner.calls, 1)
  const key = await a.entryKey()
  t.match(key, /^wts:token:[0-9a-f]{32}$/)
  t.equal(await redis.exists(await a.lockKey()), 0, 'lock released')
  const pttl = await redis.pttl(key)
  t.ok(pttl > 300_000 && pttl <= 600_000, `the entry expires with the token's 600 s (${pttl} ms left; the margin is for a slow machine)`)

  const shared = await b.fetch()
  t.equal(b.inner.calls, 0, 'no second provider request')
  t.equal(shared.accessToken.reveal(), got.accessToken.reveal())
  t.equal(shared.tokenType, 'Bearer')
  t.equal(shared.tokenId, got.tokenId)
  t.equal(shared.expiresInSeconds, 600)
  const left = shared.expiresAtMonotonic - b.clock.monotonic()
  t.ok(left <= 600_000 && left > 590_000, 'expiry converted into the reader\'s monotonic clock')
  t.same([...await redis.keys('wts:*')], [key], 'one entry, no lock left')
})

t.test('wall-clock expiry is honoured as fake time passes; a token too close to its margin is a miss', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  await a.fetch()
  b.clock.advance(500_000)
  const read = await b.fetch()
  t.equal(b.inner.calls, 0)
  const left = read.expiresAtMonotonic - b.clock.monotonic()
  t.ok(left <= 100_000 && left > 90_000, 'the stored absolute expiry counts down on the reader\'s clock')

  const c = await replica()
  c.clock.advance(569_000)
  await c.fetch()
  t.equal(c.inner.calls, 1, '31 s left with a 30 s margin: not worth serving, fetched instead')
})

t.test('wall-clock skew: a lagging reader is bound by the entry\'s PTTL, a leading one reads less time', { skip }, async (t) => {
  const { replica } = await setup(t)
  const writer = await replica()
  await writer.fetch()
  // Its wall clock 10 minutes behind: the writer's absolute expiry looks 20 minutes away.
  const lagging = await replica({ wall: DEFAULT_WALL - 600_000 })
  const read = await lagging.fetch()
  t.equal(lagging.inner.calls, 0)
  const left = read.expiresAtMonotonic - lagging.clock.monotonic()
  t.ok(left <= 600_000, 'never later than Redis\'s own countdown')
  t.ok(left > 590_000, 'the countdown itself is kept')

  const leading = await replica({ wall: DEFAULT_WALL + 100_000 })
  const early = await leading.fetch()
  const leftEarly = early.expiresAtMonotonic - leading.clock.monotonic()
  t.ok(leftEarly <= 500_000 && leftEarly > 490_000, 'a clock ahead reads the earlier, wall-clock expiry')
})

t.test('a refresh never takes back the same entry, nor an older token', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  const first = await a.fetch()
  const read = await b.fetch()
  t.equal(b.inner.calls, 0)
  // Refresh time (80 % of the lifetime) on both replicas.
  a.clock.advance(480_000)
  b.clock.advance(480_000)

  const refreshed = await b.fetch(read)
  t.equal(b.inner.calls, 1, 'same entry as the last token: fetched')
  t.not(refreshed.accessToken.reveal(), first.accessToken.reveal())

  const next = await a.fetch(first)
  t.equal(a.inner.calls, 1, 'the writer takes the newer entry another replica wrote (no second request)')
  t.equal(next.accessToken.reveal(), refreshed.accessToken.reveal())

  const c = await replica()
  await c.fetch(token(c.clock, 3600))
  t.equal(c.inner.calls, 1, 'a stored token expiring before the last one is not fresher')
})

t.test('concurrent replicas: the lock winner fetches, the losers wait for its token', { skip }, async (t) => {
  const { replica } = await setup(t)
  const replicas = await Promise.all([replica(), replica(), replica()])
  const refusals = new Refusals()
  const gate = deferred()
  for (const r of replicas) {
    refusals.watch(r.link.client)
    r.inner.respond = async () => {
      await gate.promise
      return token(r.clock)
    }
  }
  const winnerAsked = Promise.race(replicas.map(async (r) => { await r.inner.called() }))
  const pending = replicas.map(async (r) => await r.fetch())
  // Two lock attempts refused and one request open: both losers are polling while the winner waits.
  await Promise.all([refusals.refused(2), winnerAsked])
  t.equal(replicas.reduce((n, r) => n + r.inner.calls, 0), 1, 'only the winner asked the provider')
  gate.resolve()
  const got = await Promise.all(pending)
  t.equal(replicas.reduce((n, r) => n + r.inner.calls, 0), 1, 'one provider request for three replicas')
  t.equal(new Set(got.map((x) => x.accessToken.reveal())).size, 1, 'all hold the same token')
  t.equal(refusals.count, 2)
})

t.test('a lock won just after the previous winner shared and let go: read again, no second request', { skip }, async (t) => {
  const { replica } = await setup(t)
  const [a, b] = await Promise.all([replica(), replica()])
  const gate = deferred()
  a!.inner.respond = async () => {
    await gate.promise
    return token(a!.clock)
  }
  // B's lock attempt is held until A has fetched, shared and released: B's first read missed.
  const aDone = deferred()
  const bAtLock = deferred()
  const client = b!.link.client as unknown as { set: (...args: unknown[]) => Promise<unknown> }
  const set = client.set.bind(b!.link.client)
  client.set = async (...args: unknown[]) => {
    if (args.includes('NX')) {
      bAtLock.resolve()
      await aDone.promise
    }
    return await set(...args)
  }
  const first = a!.fetch()
  await a!.inner.called()
  const second = b!.fetch()
  await bAtLock.promise
  gate.resolve()
  const fromA = await first
  aDone.resolve()
  const fromB = await second
  t.equal(b!.inner.calls, 0, 'B took the lock and found A\'s token: no provider request')
  t.equal(fromB.accessToken.reveal(), fromA.accessToken.reveal())
  t.equal(await b!.link.client.exists(await b!.lockKey()), 0, 'and let the lock go')
})

t.test('a winner whose request fails releases the lock; a waiting loser asks itself and shares', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  const c = await replica()
  const failure = deferred<UpstreamToken>()
  a.inner.respond = async () => await failure.promise
  const started = a.inner.called()
  const pendingA = a.fetch()
  await started
  const pendingB = b.fetch()
  await b.refusals.refused(1)
  t.equal(b.inner.calls, 0, 'the loser waits')
  failure.reject(new Error('provider down'))
  await t.rejects(pendingA, { message: 'provider down' }, 'the winner\'s own caller sees the provider failure')
  const got = await pendingB
  t.equal(b.inner.calls, 1, 'the loser asked its own provider once the lock was gone')
  t.match(got.accessToken.reveal(), /^tok-/)
  t.equal(await redis.exists(await a.lockKey()), 0, 'the failed winner released its lock')
  const shared = await c.fetch()
  t.equal(c.inner.calls, 0, 'what the loser fetched was shared')
  t.equal(shared.accessToken.reveal(), got.accessToken.reveal())
})

t.test('a lock nobody releases: losers fall back after it expires, or after the bounded wait', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica({ timeoutMs: 50, pollMs: 5 })
  const lockKey = await a.lockKey()

  await redis.set(lockKey, 'stranger', 'PX', 60)
  await a.fetch()
  t.equal(a.inner.calls, 1, 'lock expired without a token: fetched')

  await redis.del(await a.entryKey())
  await redis.set(lockKey, 'stranger')
  const got = await a.fetch()
  t.equal(a.inner.calls, 2, 'a lock that never expires: fetched after the bounded wait')
  t.ok(a.refusals.count >= 1, 'it did meet the lock')
  t.equal(await redis.get(lockKey), 'stranger', 'someone else\'s lock is never deleted')
  const b = await replica()
  t.equal((await b.fetch()).accessToken.reveal(), got.accessToken.reveal(), 'the token fetched after the wait is shared')
  t.equal(b.inner.calls, 0)
})

t.test('an aborted signal stops a polling loser at once, without waiting out the lock', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  // The lock would be waited out for timeoutMs + 1 s: a minute.
  const a = await replica({ timeoutMs: 60_000, pollMs: 10 })
  const lockKey = await a.lockKey()
  await redis.set(lockKey, 'stranger')
  const controller = new AbortController()
  const pending = a.fetch(undefined, controller.signal)
  await a.refusals.refused(1)
  controller.abort()
  await t.rejects(pending, { name: 'AbortError' }, 'the waiting caller gets the abort')
  t.equal(await redis.get(lockKey), 'stranger', 'the lock is still held: it was not waited out')
  t.equal(a.inner.calls, 0, 'the provider was not asked')
  t.equal(await redis.exists(await a.entryKey()), 0, 'nothing written')
  t.same(a.log.lines, [], 'an abort is not a Redis failure: nothing logged')

  // Already aborted: the first wait ends at once, too.
  await t.rejects(a.fetch(undefined, AbortSignal.abort()), { name: 'AbortError' })
  t.equal(a.inner.calls, 0)

  // The winner's request gets the caller's signal, so an abort reaches the provider.
  await redis.del(lockKey)
  const signal = new AbortController().signal
  await a.fetch(undefined, signal)
  t.equal(a.inner.signals[0], signal)
})

t.test('entry names and keys follow the client secret: other secret, other entry; same secret, same entry', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const other = await replica({ secret: 'another-client-secret' })
  const same = await replica({ secret: SECRET })
  t.not(await other.entryKey(), await a.entryKey(), 'another secret names another entry')
  t.equal(await same.entryKey(), await a.entryKey(), 'the same secret on another replica names the same entry')
  t.match(await other.entryKey(), /^wts:token:[0-9a-f]{32}$/)

  const fromA = await a.fetch()
  const fromOther = await other.fetch()
  t.equal(other.inner.calls, 1, 'a replica with another secret never reads the entry')
  t.not(fromOther.accessToken.reveal(), fromA.accessToken.reveal())
  const fromSame = await same.fetch()
  t.equal(same.inner.calls, 0)
  t.equal(fromSame.accessToken.reveal(), fromA.accessToken.reveal(), 'the same secret reads its own entry, not the other one')
  t.same((await redis.keys('wts:token:*')).sort(), [await a.entryKey(), await other.entryKey()].sort(), 'two entries side by side')
  t.ok(debugOnly(other.log.lines) && other.log.lines.length === 0, 'nothing unreadable was even seen')
})

t.test('a rotated secret, read at each fetch, moves to a new entry', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const before = await a.fetch()
  const oldKey = await a.entryKey()
  a.config.clientSecret = new Secret('the-next-client-secret')
  const newKey = await a.entryKey()
  t.not(newKey, oldKey)
  const after = await a.fetch()
  t.equal(a.inner.calls, 2, 'the old secret\'s entry is not used under the new secret')
  t.not(after.accessToken.reveal(), before.accessToken.reveal())
  t.equal(await redis.exists(newKey), 1, 'written under the new name')
  t.equal(await redis.exists(oldKey), 1, 'the old entry is left to expire')

  const rotated = await replica({ secret: 'the-next-client-secret' })
  t.equal((await rotated.fetch()).accessToken.reveal(), after.accessToken.reveal(), 'replicas with the new secret share the new entry')
  t.equal(rotated.inner.calls, 0)

  // A new client id with the same secret: another client's token, so another entry, the one a
  // replica started with that id uses.
  a.config.clientId = 'the-next-client-id'
  const byId = await a.entryKey()
  t.not(byId, newKey, 'a changed client id moves to a new entry')
  const started = await replica({ secret: 'the-next-client-secret' })
  started.config.clientId = 'the-next-client-id'
  t.equal(await started.entryKey(), byId, 'the entry a replica started with that id uses')
})

t.test('credentials changed during the fetch: the token is served, and shared under neither entry', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const oldKey = await a.entryKey()
  a.inner.respond = () => {
    // A reload lands while the provider request is in flight.
    a.config.clientSecret = new Secret('the-next-client-secret')
    return token(a.clock)
  }
  const served = await a.fetch()
  t.equal(a.inner.calls, 1)
  t.match(served.accessToken.reveal(), /^tok-/, 'the caller gets its token')
  const newKey = await a.entryKey()
  t.equal(await redis.exists(oldKey), 0, 'not under the entry of the credentials it was asked with')
  t.equal(await redis.exists(newKey), 0, 'nor under the new one, which may not be what made it')
})

t.test('an undecryptable or tampered entry is a miss, logged once at debug, never an error', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const other = await replica({ secret: 'the-next-client-secret' })
  await a.fetch()
  // An entry encrypted under another secret, where this replica looks.
  const foreign = await redis.get(await a.entryKey()) as string
  for (let i = 1; i <= 2; i++) {
    await redis.set(await other.entryKey(), foreign, 'PX', 600_000)
    await other.fetch()
    t.equal(other.inner.calls, i, `read ${i}: a miss, fetched`)
  }
  const unreadable = other.log.lines.filter((l) => /unreadable/.test(l.msg))
  t.equal(unreadable.length, 1, 'logged once')
  t.equal(unreadable[0]?.level, 'debug')
  t.ok(debugOnly(other.log.lines))

  // The right key, one bit of ciphertext flipped.
  const envelope = JSON.parse(await redis.get(await a.entryKey()) as string)
  const ct = Buffer.from(envelope.ct, 'base64')
  ct[0] = (ct[0] as number) ^ 1
  await redis.set(await a.entryKey(), JSON.stringify({ ...envelope, ct: ct.toString('base64') }), 'PX', 600_000)
  const b = await replica()
  await b.fetch()
  t.equal(b.inner.calls, 1, 'tampered: a miss, fetched')
})

t.test('malformed, non-expiring or wrong-type entries are misses or fallbacks', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const key = await a.entryKey()
  // The production context: token URL, client id, scope.
  const cipher = await TokenCipher.create(UPSTREAM.clientSecret, [UPSTREAM.tokenUrl.href, UPSTREAM.clientId, UPSTREAM.scope ?? null])
  t.equal(key, `wts:token:${cipher.keyId}`, 'the entry is named by the cipher of (secret, token URL, client id, scope)')
  const valid = { t: 'tok-valid', i: null, e: 600, x: a.clock.wall() + 600_000, n: 'entry' }

  const cases: Array<[string, () => Promise<unknown>]> = [
    ['not an envelope', async () => await redis.set(key, 'garbage', 'PX', 60_000)],
    ['authentic but not a payload', async () => await redis.set(key, cipher.encrypt('null'), 'PX', 60_000)],
    ['authentic but not JSON', async () => await redis.set(key, cipher.encrypt('{'), 'PX', 60_000)],
    ['payload with an empty token', async () => await redis.set(key, cipher.encrypt(JSON.stringify({ ...valid, t: '' })), 'PX', 60_000)],
    ['payload with a bad lifetime', async () => await redis.set(key, cipher.encrypt(JSON.stringify({ ...valid, e: 'x' })), 'PX', 60_000)],
    ['payload without an entry id', async () => await redis.set(key, cipher.encrypt(JSON.stringify({ ...valid, n: 1 })), 'PX', 60_000)],
    ['no expiry on the key', async () => await redis.set(key, cipher.encrypt(JSON.stringify(valid)))],
    ['a hash where the entry should be (WRONGTYPE)', async () => { await redis.del(key); await redis.hset(key, 'f', 'v') }]
  ]
  for (const [i, [name, prepare]] of cases.entries()) {
    await prepare()
    const got = await a.fetch()
    t.equal(a.inner.calls, i + 1, name)
    t.match(got.accessToken.reveal(), /^tok-/, name)
    await redis.del(key)
  }
  t.ok(debugOnly(a.log.lines), 'nothing above debug')
  await redis.set(key, cipher.encrypt(JSON.stringify({ ...valid, i: 'tid' })), 'PX', 600_000)
  const read = await a.fetch()
  t.equal(read.accessToken.reveal(), 'tok-valid', 'a well-formed entry written by anyone with the key is read')
  t.equal(read.tokenId, 'tid')
  t.equal(a.inner.calls, cases.length)
})

t.test('Redis down or failing: the wrapped source answers, the caller never fails', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()

  a.link.up = false
  const whileDown = await a.fetch()
  t.equal(a.inner.calls, 1)
  t.match(whileDown.accessToken.reveal(), /^tok-/)
  t.same(await redis.keys('wts:*'), [], 'nothing read, locked or written while down')
  t.same(a.log.lines, [], 'an outage the connection already reported is not logged again')

  // The connection drops while the link still claims it is up: every Redis call rejects.
  a.link.up = true
  a.link.client.disconnect()
  const broken = await a.fetch()
  t.equal(a.inner.calls, 2, 'read failure: fetched from the wrapped source')
  t.match(broken.accessToken.reveal(), /^tok-/)
  const failed = a.log.lines.find((l) => l.obj.op === 'read')
  t.match(failed, { level: 'debug', obj: { upstream: 'global', errorClass: /^[A-Za-z][A-Za-z0-9_]*$/ } }, 'logged at debug with an error class')
  t.notMatch(JSON.stringify(a.log.lines), /writeable|closed|127\.0\.0\.1/i, 'never the error message')
  t.ok(debugOnly(a.log.lines), 'nothing above debug from the source')
})

t.test('a hung Redis: the read times out and the wrapped source answers', { skip }, async (t) => {
  const { server, replica } = await setup(t)
  // A real command timeout is involved here: short, so the test is quick; the bound is the timeout.
  const a = await replica({ timings: { ...PATIENT_TIMINGS, commandTimeoutMs: 300 } })
  await a.entryKey()
  server.pause()
  t.teardown(() => { server.resume() })
  const got = await a.fetch()
  t.equal(a.inner.calls, 1)
  t.match(got.accessToken.reveal(), /^tok-/)
  t.match(a.log.lines.find((l) => l.obj.op === 'read'), { level: 'debug' }, 'the timeout is logged at debug')
  server.resume()
})

t.test('a token fetched because the read failed is shared once Redis answers', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  const key = await a.entryKey()
  // GET fails on a hash (WRONGTYPE) while SET would replace it: the read fails, Redis answers.
  await redis.hset(key, 'f', 'v')
  const got = await a.fetch()
  t.equal(a.inner.calls, 1, 'the failed read fell back to the wrapped source')
  t.equal(await redis.type(key), 'string', 'the fetched token replaced the broken entry')
  const shared = await b.fetch()
  t.equal(b.inner.calls, 0, 'another replica reads it instead of asking the provider')
  t.equal(shared.accessToken.reveal(), got.accessToken.reveal(), 'the same token')
})

t.test('the winner keeps its token when Redis fails between its request and the write', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  a.inner.respond = () => {
    a.link.client.disconnect()
    return token(a.clock, 600, 'tok-winner')
  }
  const got = await a.fetch()
  t.equal(got.accessToken.reveal(), 'tok-winner')
  const ops = a.log.lines.map((l) => l.obj.op)
  t.ok(ops.includes('write') && ops.includes('unlock'), 'write and unlock failures logged')
  t.ok(debugOnly(a.log.lines), 'at debug')
})

t.test('what is not shared: a token about to expire, and a token read from Redis', { skip }, async (t) => {
  const { redis, replica } = await setup(t)
  const a = await replica()
  a.inner.respond = () => token(a.clock, 1)
  await a.fetch()
  t.equal(await redis.exists(await a.entryKey()), 0, 'a token with 1 s left is not written')
  t.equal(await redis.exists(await a.lockKey()), 0, 'and the lock is released')

  a.inner.respond = () => token(a.clock)
  await a.fetch()
  const stored = await redis.get(await a.entryKey())
  const b = await replica()
  await b.fetch()
  t.equal(b.inner.calls, 0)
  t.equal(await redis.get(await a.entryKey()), stored, 'a reader does not write the entry back')
})

t.test('a token without an access_token_id round-trips without one', { skip }, async (t) => {
  const { replica } = await setup(t)
  const a = await replica()
  const b = await replica()
  a.inner.respond = () => ({ ...token(a.clock), tokenId: undefined })
  await a.fetch()
  const read = await b.fetch()
  t.equal(b.inner.calls, 0)
  t.equal(read.tokenId, undefined)
  t.match(read.accessToken.reveal(), /^tok-/)
})
