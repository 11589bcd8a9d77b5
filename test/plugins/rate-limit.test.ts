// The rate-limit plugin (src/plugins/rate-limit.ts), through its own API, `fastify.limits`, rather
// than through the auth plugin that asks it: RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS per caller
// identity (API-key and JWT callers apart), the same budget of failed authentications per client
// address (an IPv6 /64 as one), checkAddress that counts nothing, the synchronous in-memory
// refusedAddress, the 429 each answers with, and counters shared through Redis (REDIS_URL). The
// app is built by build(t) with probe routes that call the API on real requests (app.inject, from
// chosen addresses). The limiter's window runs on Date.now, which the tests that assert exact
// seconds or the window's end point at a FakeClock's wall time (restored on teardown); nothing
// waits in real time.
import t, { type Test } from 'tap'
import type { AppError } from '../../src/lib/errors.js'
import { build, type BuildOptions } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer } from '../helpers/redis-server.js'

const MAX = 3
const WINDOW_MS = 30_000
const IP = '203.0.113.7'

interface Refusal { statusCode: number, code: string, retryAfterSeconds: number | undefined, headers: Record<string, string> | undefined }
type Outcome = Refusal | null

const summary = (err: AppError | undefined): Outcome => err === undefined
  ? null
  : { statusCode: err.statusCode, code: err.code, retryAfterSeconds: err.retryAfterSeconds, headers: err.headers as Record<string, string> | undefined }

/** The 429 every refusal of this file's budget is, with `seconds` until the window ends. */
const refusal = (seconds: number): Refusal => ({
  statusCode: 429,
  code: 'RATE_LIMITED',
  retryAfterSeconds: seconds,
  headers: { 'x-ratelimit-limit': String(MAX), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(seconds) }
})

/** Points Date.now (the limiter's clock) at a FakeClock's wall time until the test ends. */
function freezeDateNow (t: Test): FakeClock {
  const realNow = Date.now
  const clock = new FakeClock({ wall: realNow() })
  Date.now = () => clock.wall()
  t.teardown(() => { Date.now = realNow })
  return clock
}

async function setup (t: Test, opts: Omit<BuildOptions, 'noReady'> = {}) {
  const { app } = await build(t, { ...opts, noReady: true, env: { RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW_MS: String(WINDOW_MS), ...opts.env } })
  let syncRefused = true
  app.get('/probe/caller/:identity', async (request) => ({ outcome: summary(await app.limits.caller(request, (request.params as { identity: string }).identity)) }))
  app.get('/probe/check', async (request) => ({ outcome: summary(await app.limits.checkAddress(request)) }))
  app.get('/probe/fail', async (request) => ({ outcome: summary(await app.limits.countFailure(request)) }))
  app.get('/probe/refused', async (request) => {
    const result: unknown = app.limits.refusedAddress(request)
    if (typeof (result as { then?: unknown } | undefined)?.then === 'function') syncRefused = false
    return { outcome: summary(result as AppError | undefined) }
  })
  await app.ready()
  const probe = async (path: string, ip: string): Promise<Outcome> => {
    const res = await app.inject({ url: `/probe/${path}`, remoteAddress: ip })
    if (res.statusCode !== 200) throw new Error(`probe ${path}: ${res.statusCode} ${res.body}`)
    return (res.json() as { outcome: Outcome }).outcome
  }
  return {
    app,
    caller: async (identity: string, ip = IP) => await probe(`caller/${encodeURIComponent(identity)}`, ip),
    check: async (ip = IP) => await probe('check', ip),
    fail: async (ip = IP) => await probe('fail', ip),
    refused: async (ip = IP) => await probe('refused', ip),
    syncRefused: () => syncRefused
  }
}

async function times<T> (n: number, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = []
  for (let i = 0; i < n; i++) out.push(await fn())
  return out
}

/** A retry-after in whole seconds within the window (refusedAddress's own timer runs in real time). */
const withinWindow = (outcome: Outcome): boolean => outcome !== null && outcome.statusCode === 429 && outcome.code === 'RATE_LIMITED' &&
  outcome.retryAfterSeconds !== undefined && outcome.retryAfterSeconds >= 1 && outcome.retryAfterSeconds <= WINDOW_MS / 1000 &&
  outcome.headers?.['x-ratelimit-limit'] === String(MAX) && outcome.headers['x-ratelimit-remaining'] === '0'

t.test('caller: RATE_LIMIT_MAX requests per identity, then a 429 until the window ends', async (t) => {
  freezeDateNow(t)
  const { caller } = await setup(t)
  t.same(await times(MAX, async () => await caller('api_key:web')), [null, null, null], 'the budget')
  t.same(await caller('api_key:web'), refusal(WINDOW_MS / 1000), 'one more: 429, Retry-After the rest of the window')
  t.same(await caller('api_key:web'), refusal(WINDOW_MS / 1000), 'and again: refused requests do not reopen it')
})

t.test('caller: the budget renews when RATE_LIMIT_WINDOW_MS has passed, not before', async (t) => {
  const clock = freezeDateNow(t)
  const { caller } = await setup(t)
  await times(MAX, async () => await caller('jwt:alice'))
  clock.advance(10_000)
  t.same(await caller('jwt:alice'), refusal(20), 'Retry-After counts down with the window')
  clock.advance(WINDOW_MS - 10_000 - 1)
  t.same(await caller('jwt:alice'), refusal(1), '1 ms before the end')
  clock.advance(1)
  t.same(await times(MAX, async () => await caller('jwt:alice')), [null, null, null], 'a new window, a full budget')
  t.same(await caller('jwt:alice'), refusal(WINDOW_MS / 1000))
})

t.test('caller: each identity has its own budget; an API key and a JWT under one name are two', async (t) => {
  const { caller } = await setup(t)
  await times(MAX, async () => await caller('api_key:alice'))
  t.ok(withinWindow(await caller('api_key:alice')), 'api_key:alice is out of budget')
  t.same(await times(MAX, async () => await caller('jwt:alice')), [null, null, null], 'jwt:alice is not')
  t.same(await caller('api_key:bob'), null, 'nor is another key')
})

t.test('caller: counted per identity, not per address', async (t) => {
  const { caller } = await setup(t)
  t.same([await caller('api_key:web', '198.51.100.1'), await caller('api_key:web', '198.51.100.2'), await caller('api_key:web', '2001:db8::1')], [null, null, null])
  t.ok(withinWindow(await caller('api_key:web', '198.51.100.3')), 'a fourth address does not bring a fresh budget')
})

t.test('countFailure: RATE_LIMIT_MAX failures per address, then a 429; the failure that uses the budget up refuses the address in memory', async (t) => {
  freezeDateNow(t)
  const { fail, refused, syncRefused } = await setup(t)
  t.same(await refused(), null, 'nothing refused yet')
  t.same(await times(MAX - 1, async () => await fail()), [null, null])
  t.same(await refused(), null, 'not while failures are left')
  t.same(await fail(), null, 'the last failure of the budget gets its 401')
  t.ok(withinWindow(await refused()), 'and from the next attempt on the address is refused, before any credential is looked at')
  t.same(await fail(), refusal(WINDOW_MS / 1000), 'one more: 429')
  t.ok(withinWindow(await refused()), 'refusedAddress now refuses the address, for the rest of its window')
  t.ok(syncRefused(), 'refusedAddress answers synchronously, never with a promise')
})

t.test('refusedAddress and countFailure: other addresses keep their own budget', async (t) => {
  const { fail, refused } = await setup(t)
  await times(MAX + 1, async () => await fail('198.51.100.1'))
  t.ok(withinWindow(await refused('198.51.100.1')))
  t.same(await refused('198.51.100.2'), null)
  t.same(await times(MAX, async () => await fail('198.51.100.2')), [null, null, null])
})

t.test('checkAddress counts nothing', async (t) => {
  const { check, fail, refused } = await setup(t)
  t.same(await times(10, async () => await check()), Array(10).fill(null), 'asked often, never refused')
  t.same(await refused(), null)
  t.same(await times(MAX, async () => await fail()), [null, null, null], 'the whole budget of failures is still there')
})

t.test('checkAddress: refuses an address that has used up its budget, and the refusal is remembered', async (t) => {
  freezeDateNow(t)
  const { check, fail, refused } = await setup(t)
  await times(MAX, async () => await fail())
  t.same(await check(), refusal(WINDOW_MS / 1000), 'no failure left: 429 before any credential work')
  t.ok(withinWindow(await refused()), 'and refusedAddress knows it from now on')
  t.same(await check('198.51.100.99'), null, 'another address is not affected')
})

t.test('the per-caller and per-address budgets are separate', async (t) => {
  const { caller, fail, refused } = await setup(t)
  await times(MAX + 1, async () => await fail())
  t.ok(withinWindow(await refused()))
  t.same(await caller('api_key:web'), null, 'an address out of failures does not spend a caller\'s budget (auth asks in order)')
  await times(MAX, async () => await caller('api_key:other', '198.51.100.5'))
  t.same(await fail('198.51.100.5'), null, 'a caller out of budget does not spend its address\'s failures')
})

t.test('IPv6: one failure budget for a whole /64', async (t) => {
  const { fail, refused } = await setup(t)
  t.same([await fail('2001:db8:1:2::a'), await fail('2001:db8:1:2::b'), await fail('2001:db8:1:2:ffff:ffff:ffff:ffff')], [null, null, null])
  t.ok(withinWindow(await fail('2001:db8:1:2:1234::1')), 'a fourth address in the /64: its budget is spent')
  t.ok(withinWindow(await refused('2001:db8:1:2::cafe')), 'and refused for every address in it')
  t.same(await refused('2001:db8:1:3::a'), null, 'the next /64 is another client')
  t.same(await fail('2001:db8:1:3::a'), null)
})

t.test('an IPv4-mapped IPv6 address shares the budget of its IPv4 address', async (t) => {
  const { fail, refused } = await setup(t)
  t.same([await fail('::ffff:198.51.100.9'), await fail('198.51.100.9'), await fail('::ffff:198.51.100.9')], [null, null, null])
  t.ok(withinWindow(await fail('198.51.100.9')))
  t.ok(withinWindow(await refused('::ffff:198.51.100.9')))
})

t.test('no route is rate limited by itself: the limiter is global: false', async (t) => {
  const { app } = await setup(t)
  const statuses = await times(MAX * 3, async () => (await app.inject({ url: '/healthz', remoteAddress: IP })).statusCode)
  t.same(statuses, Array(MAX * 3).fill(200))
})

t.test('with REDIS_URL, replicas share both budgets; another replica learns of a refusal from the shared count', { skip: redisSkip() }, async (t) => {
  const server = await startRedisServer(t)
  const opts = { env: { REDIS_URL: server.url }, redis: { timings: PATIENT_TIMINGS } }
  const a = await setup(t, opts)
  const b = await setup(t, opts)
  t.same([await a.fail(), await b.fail(), await a.fail()], [null, null, null], 'failures on either replica spend one budget')
  t.same(await b.refused(), null, 'b has refused nothing itself: its in-memory answer knows of no refusal')
  t.ok(withinWindow(await b.check()), 'but the shared count says the budget is used up')
  t.ok(withinWindow(await b.refused()), 'and b remembers that refusal from then on')
  t.same([await a.caller('api_key:web'), await b.caller('api_key:web'), await a.caller('api_key:web')], [null, null, null])
  t.ok(withinWindow(await b.caller('api_key:web')), 'one caller budget across the replicas')
})
