// TokenManager (src/token/manager.ts) over a stubbed TokenSource: serving, single-flight,
// expiry and the margin + 1 s rule, expires_in/expires_at exactness, tokenSha256, refresh-ahead,
// state() for /readyz, prewarm(), close(), options and defaults. Failures and backoff are in
// manager-failures.test.ts; the source contract and the 'updated' event in manager-source.test.ts.
import { createHash } from 'node:crypto'
import t from 'tap'
import { AppError } from '../../src/lib/errors.js'
import { Secret } from '../../src/lib/secret.js'
import { TokenManager } from '../../src/token/manager.js'
import type { UpstreamToken } from '../../src/token/types.js'
import { settle, settlesNow } from '../helpers/fake-clock.js'
import { deferred, hang, tokenResponse } from '../helpers/fake-provider.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { fetchError, hangUntilAborted, harness, lateTimers, providerHarness, unavailable, upstreamToken } from '../helpers/manager-harness.js'
import { rejection } from '../helpers/rejection.js'

const digest = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 16)

const GLOBAL = { id: 'global', marginSeconds: 30 }

t.test('a cold getToken asks the source once and issues the token with margin-adjusted expiry', async (t) => {
  const { manager, clock, calls } = harness(t, (call) => upstreamToken(call.now, { accessToken: 'tok-A', expiresIn: 3600 }))
  const issued = await manager.getToken()
  t.equal(issued.accessToken.reveal(), 'tok-A')
  t.equal(issued.tokenType, 'Bearer')
  t.equal(issued.upstream, 'bandwidth')
  t.equal(issued.tokenId, undefined)
  t.equal(issued.expiresIn, 3590)
  t.equal(issued.expiresAt, new Date(clock.wall() + 3590_000).toISOString())
  t.equal(manager.id, 'bandwidth')
  t.equal(calls.length, 1)
  t.equal(calls[0]!.last, undefined, 'nothing held yet')
  t.equal(calls[0]!.signal.aborted, false)
  const stopAt = issued.expiresAt
  clock.advance(100_500)
  const again = await manager.getToken()
  t.equal(calls.length, 1, 'served from the held token')
  t.equal(again.expiresIn, 3489, 'whole seconds, rounded down')
  t.equal(again.expiresAt, stopAt, 'expires_at is the instant to stop, the same for every caller of the token')
  t.ok(Date.parse(again.expiresAt) >= clock.wall() + again.expiresIn * 1000, 'now + expires_in never passes it')
  t.equal(manager.peek(), again, 'within the same second: the very same object, without a promise')
  clock.advance(499)
  t.equal(manager.peek(), again, 'still the same second left')
  clock.advance(2)
  const later = manager.peek()
  t.not(later, again, 'once a whole second fewer is left: a new one')
  t.equal(later?.expiresIn, 3488)
  t.equal(later?.expiresAt, stopAt)
  t.ok(Object.isFrozen(later), 'shared between callers, so frozen')
})

t.test('the token id is handed out when the source gave one', async (t) => {
  const { manager } = harness(t, (call) => upstreamToken(call.now, { tokenId: 'tid-1' }))
  t.equal((await manager.getToken()).tokenId, 'tid-1')
})

t.test('tokenSha256 is the first 16 hex digits of SHA-256 of the access token, computed once per token', async (t) => {
  class CountingSecret extends Secret {
    reveals = 0
    override reveal (): string {
      this.reveals++
      return super.reveal()
    }
  }
  const secrets: CountingSecret[] = []
  const { manager, clock, lines } = harness(t, (call) => {
    const secret = new CountingSecret(`tok-${secrets.length + 1}`)
    secrets.push(secret)
    return upstreamToken(call.now, { accessToken: secret })
  })
  const first = await manager.getToken()
  t.equal(first.tokenSha256, digest('tok-1'))
  t.match(first.tokenSha256, /^[0-9a-f]{16}$/)
  const revealed = secrets[0]!.reveals
  const again = await Promise.all(Array.from({ length: 100 }, async () => await manager.getToken()))
  t.ok(again.every((i) => i.tokenSha256 === first.tokenSha256), 'the same string for the same token')
  t.equal(secrets[0]!.reveals, revealed, 'serving never hashes the token again')
  await clock.advanceAsync(2_880_000) // the refresh replaces it
  const next = await manager.getToken()
  t.equal(next.accessToken, secrets[1], 'the refreshed token')
  t.equal(next.tokenSha256, digest('tok-2'))
  t.not(next.tokenSha256, first.tokenSha256, 'a refresh changes it')
  t.same(lines.filter((l) => l.msg === 'upstream token refreshed').map((l) => l.obj.tokenSha256), [digest('tok-1'), digest('tok-2')], 'the same digest names it in the log')
})

t.test('1,000 concurrent cold getToken() calls cause exactly one source fetch', async (t) => {
  const answer = deferred<string>()
  const { manager, calls } = harness(t, async (call) => upstreamToken(call.now, { accessToken: await answer.promise }))
  const waiting = Array.from({ length: 1000 }, async () => await manager.getToken())
  await settle()
  t.equal(calls.length, 1)
  answer.resolve('shared')
  const issued = await Promise.all(waiting)
  t.equal(calls.length, 1)
  t.ok(issued.every((i) => i.accessToken.reveal() === 'shared'))
})

t.test('concurrent callers that join a failing fetch all get the failure, from one source fetch', async (t) => {
  const { manager, calls } = harness(t, () => { throw fetchError('server_error', { status: 500 }) })
  const errors = await Promise.all(Array.from({ length: 50 }, async () => await unavailable(manager.getToken())))
  t.equal(calls.length, 1)
  t.ok(errors.every((e) => e instanceof AppError && e.statusCode === 503 && e.errorClass === 'server_error'))
})

t.test('the global upstream through the provider: its scope is sent and its 30 s margin applies', async (t) => {
  const { manager, requests } = providerHarness(t, () => tokenResponse({ expires_in: 600 }), { id: 'global' })
  const issued = await manager.getToken()
  t.equal(requests[0]!.url, 'https://id.voxbone.com/api/v1/oauth2/token')
  t.equal(requests[0]!.body, 'grant_type=client_credentials&scope=voice.webrtc')
  t.equal(issued.expiresIn, 570)
  t.equal(issued.upstream, 'global')
})

t.test('through the provider, expiry counts from the clock read before the request was sent', async (t) => {
  const answer = deferred<Response>()
  const { manager, clock } = providerHarness(t, async () => await answer.promise, { id: 'global' })
  const p = manager.getToken()
  await settle()
  clock.advance(4000)
  answer.resolve(tokenResponse({ expires_in: 600 }))
  t.equal((await p).expiresIn, 600 - 30 - 4)
})

t.test('a token that arrives with less than 1 s before its margin is a bad_response, not held', async (t) => {
  const answer = deferred<void>()
  const { manager, clock, updates, lines } = harness(t, async (call) => {
    await answer.promise
    return upstreamToken(call.now, { expiresIn: 40 })
  }, { manager: GLOBAL })
  const p = manager.getToken()
  await settle()
  clock.advance(9500) // 40 s lifetime - 30 s margin - 9.5 s in flight = 0.5 s left
  answer.resolve()
  const err = await unavailable(p)
  t.equal(err.errorClass, 'bad_response')
  t.equal(updates.length, 0)
  t.same(manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'bad_response' })
  t.equal(lines.find((l) => l.level === 'warn')?.obj.errorClass, 'bad_response')
})

t.test('margin + 1 s: handed out while 1 s is left before the margin, then the caller waits for the fresh token', async (t) => {
  const refresh = deferred<void>()
  const { manager, clock, calls } = harness(t, async (call, i) => {
    if (i > 0) await refresh.promise
    return upstreamToken(call.now, { accessToken: i === 0 ? 'old' : 'new', expiresIn: 600 })
  }, { manager: GLOBAL })
  await manager.getToken()
  clock.advance(480_000) // refresh-ahead starts and hangs
  await settle()
  t.equal(calls.length, 2)
  clock.advance(88_500) // 600 - 30 - 568.5 = 1.5 s left
  const last = await manager.getToken()
  t.equal(last.accessToken.reveal(), 'old')
  t.equal(last.expiresIn, 1)
  t.same(manager.state(), { state: 'valid', secondsLeft: 1, lastErrorClass: null })
  clock.advance(501) // 0.999 s left: not handed out
  const waiting = manager.getToken()
  t.equal(await settlesNow(waiting), false, 'caller waits')
  t.equal(manager.state().state, 'missing')
  refresh.resolve()
  const fresh = await waiting
  t.equal(fresh.accessToken.reveal(), 'new')
  t.equal(calls.length, 2, 'joined the refresh in flight')
})

t.test('refresh-ahead at refreshAt of the lifetime; callers never wait meanwhile', async (t) => {
  const refresh = deferred<void>()
  const { manager, clock, calls, updates, lines } = harness(t, async (call, i) => {
    if (i === 0) return upstreamToken(call.now, { accessToken: 'first' })
    await refresh.promise
    return upstreamToken(call.now, { accessToken: 'second', tokenId: 'tid-2' })
  })
  await manager.getToken()
  t.equal(clock.pendingTimers(), 1)
  t.equal(clock.nextTimerIn(), 2_880_000, '0.8 x 3600 s')
  clock.advance(2_879_999)
  await settle()
  t.equal(calls.length, 1)
  clock.advance(1)
  await settle()
  t.equal(calls.length, 2, 'background refresh started')
  t.equal(calls[1]!.last, updates[0], 'the source is handed the token held')
  const during = manager.getToken()
  t.equal(await settlesNow(during), true, 'served without waiting')
  t.equal((await during).accessToken.reveal(), 'first')
  refresh.resolve()
  await settle()
  t.equal((await manager.getToken()).accessToken.reveal(), 'second')
  t.equal((await manager.getToken()).expiresIn, 3590)
  t.equal(calls.length, 2)
  t.same(updates.map((u) => u.accessToken.reveal()), ['first', 'second'])
  const refreshed = lines.filter((l) => l.msg === 'upstream token refreshed')
  t.same(refreshed.map((l) => l.obj), [
    { upstream: 'bandwidth', expiresIn: 3600, tokenSha256: digest('first') },
    { upstream: 'bandwidth', expiresIn: 3600, tokenSha256: digest('second'), tokenId: 'tid-2' }
  ], 'info, tokenId only when given')
  t.notOk('tokenId' in refreshed[0]!.obj, 'no tokenId key at all when absent')
  t.ok(refreshed.every((l) => l.level === 'info'))
  t.equal(clock.nextTimerIn(), 2_880_000)
})

t.test('a late timer: the first caller past the refresh point starts the refresh, once', async (t) => {
  const refresh = deferred<void>()
  const { manager, clock, calls } = harness(t, async (call, i) => {
    if (i > 0) await refresh.promise
    return upstreamToken(call.now, { accessToken: i === 0 ? 'tok-1' : 'next' })
  }, { clock: lateTimers })
  await manager.getToken()
  clock.advance(2_879_000)
  await manager.getToken()
  t.equal(calls.length, 1, 'not yet due')
  clock.advance(1000)
  await Promise.all([manager.getToken(), manager.getToken(), manager.getToken()])
  await settle()
  t.equal(calls.length, 2)
  refresh.resolve()
  await settle()
  t.equal((await manager.getToken()).accessToken.reveal(), 'next')
})

t.test('the refresh point is clamped to the last servable instant', async (t) => {
  const { manager, clock } = harness(t, (call) => upstreamToken(call.now, { expiresIn: 600 }), { manager: { ...GLOBAL, refreshAt: 0.99 } })
  await manager.getToken()
  t.equal(clock.nextTimerIn(), 569_000, 'min(594 s, 600 - 30 - 1 s)')
})

t.test('after an await the token is checked again before it is handed out', async (t) => {
  const { manager, clock } = harness(t, (call) => upstreamToken(call.now, { expiresIn: 600 }), { manager: GLOBAL })
  // Time jumps while the fetch completes (an event loop stall).
  manager.on('updated', () => { clock.advance(590_000) })
  const err = await unavailable(manager.getToken())
  t.equal(err.statusCode, 503)
  t.equal(err.retryAfterSeconds, 1)
  t.equal(err.errorClass, 'timeout')
})

t.test('state(): missing, valid with seconds left, failing, and valid again', async (t) => {
  let fail = false
  const { manager, clock } = harness(t, (call) => {
    if (fail) throw fetchError('server_error', { status: 502 })
    return upstreamToken(call.now, { expiresIn: 60 })
  })
  t.same(manager.state(), { state: 'missing', secondsLeft: 0, lastErrorClass: null })
  await manager.getToken()
  t.same(manager.state(), { state: 'valid', secondsLeft: 50, lastErrorClass: null })
  fail = true
  await clock.advanceAsync(48_000) // refresh at 48 s fails; retry at 49 s
  t.same(manager.state(), { state: 'valid', secondsLeft: 2, lastErrorClass: 'server_error' })
  await clock.advanceAsync(1000) // retry at 49 s fails; next at 51 s
  t.same(manager.state(), { state: 'valid', secondsLeft: 1, lastErrorClass: 'server_error' })
  clock.advance(100)
  t.same(manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'server_error' })
  fail = false
  await clock.advanceAsync(10_000) // retry at 51 s succeeds: expires at 111 s
  t.same(manager.state(), { state: 'valid', secondsLeft: 41, lastErrorClass: null })
})

t.test('prewarm starts a fetch without awaiting it, and does nothing while a token is servable or in a backoff window', async (t) => {
  const { manager, calls } = harness(t, (call) => upstreamToken(call.now))
  manager.prewarm()
  t.equal(calls.length, 1, 'started at once')
  await settle()
  t.equal(manager.state().state, 'valid')
  manager.prewarm()
  await settle()
  t.equal(calls.length, 1)

  const failing = harness(t, () => { throw fetchError('server_error', { status: 503 }) })
  failing.manager.prewarm()
  await settle()
  t.equal(failing.manager.state().lastErrorClass, 'server_error', 'a prewarm failure is recorded, not thrown')
  failing.clock.advance(999)
  failing.manager.prewarm()
  await settle()
  t.equal(failing.calls.length, 1, 'inside the backoff window')
})

t.test('close() while callers wait on a hung source: the attempt is aborted and they get a 503 at once', async (t) => {
  const { manager, clock, calls } = harness(t, hangUntilAborted)
  const waiting = [manager.getToken(), manager.getToken(), manager.getToken()]
  await settle()
  t.equal(calls.length, 1)
  t.equal(calls[0]!.signal.aborted, false)
  manager.close()
  t.equal(calls[0]!.signal.aborted, true, 'the source is told to stop')
  t.same(await Promise.all(waiting.map(settlesNow)), [true, true, true], 'without the clock moving')
  for (const p of waiting) {
    const err = await unavailable(p)
    t.ok(err instanceof AppError)
    t.equal(err.statusCode, 503)
    t.equal(err.retryAfterSeconds, 1)
  }
  t.equal(clock.pendingTimers(), 0, 'no backoff timer armed after close')
  t.doesNotThrow(() => { manager.close() }, 'idempotent')
  t.same(manager.state(), { state: 'missing', secondsLeft: 0, lastErrorClass: null }, 'the abort is not recorded as a failure')
  t.ok(await unavailable(manager.getToken()) instanceof AppError, 'later callers too')
  t.equal(calls.length, 1, 'and no new attempt starts')
})

t.test('close() with the provider hung: its request is aborted and the waiter gets a 503 at once', async (t) => {
  const { manager, clock, requests, fetches } = providerHarness(t, hang)
  const waiting = manager.getToken()
  await settle()
  t.equal(clock.pendingTimers(), 1, 'the attempt timeout')
  manager.close()
  t.equal(requests[0]!.signal.aborted, true)
  t.equal(await settlesNow(waiting), true)
  t.equal((await unavailable(waiting)).statusCode, 503)
  t.equal(clock.pendingTimers(), 0)
  t.same(fetches, [{ outcome: 'network', durationMs: 0 }])
})

t.test('close() after a success clears the refresh timer; nothing reaches the source afterwards', async (t) => {
  const { manager, clock, calls } = harness(t, (call) => upstreamToken(call.now, { expiresIn: 60 }))
  await manager.getToken()
  t.equal(clock.pendingTimers(), 1)
  manager.close()
  t.equal(clock.pendingTimers(), 0)
  clock.advance(48_500) // past the refresh point: a caller would start the refresh
  await manager.getToken().catch(() => undefined)
  manager.prewarm()
  await settle()
  t.equal(calls.length, 1, 'no refresh after close')
  clock.advance(1000) // under 1 s before the margin
  const err = await unavailable(manager.getToken())
  t.equal(err.statusCode, 503)
  manager.prewarm()
  await clock.advanceAsync(3_600_000)
  t.equal(calls.length, 1)
  t.same(manager.state(), { state: 'missing', secondsLeft: 0, lastErrorClass: null })
})

t.test('a waiting caller gets its 503 at close() even from a source that ignores the abort', async (t) => {
  const { manager } = harness(t, async () => await new Promise<never>(() => {}))
  let outcome: unknown = 'pending'
  const waiting = manager.getToken().then(() => 'resolved', (err: unknown) => { outcome = err })
  await settle()
  t.equal(outcome, 'pending', 'still waiting before close()')
  manager.close()
  await waiting
  t.ok(outcome instanceof AppError && outcome.statusCode === 503 && outcome.code === 'UPSTREAM_UNAVAILABLE', 'rejected with a 503 without the source answering')
})

t.test('a source that ignores the abort and answers after close() changes nothing', async (t) => {
  const late = deferred<void>()
  const { manager, clock, updates, calls } = harness(t, async (call) => {
    await late.promise
    return upstreamToken(call.now)
  })
  const waiting = rejection(manager.getToken())
  await settle()
  manager.close()
  late.resolve()
  const err = await waiting
  t.ok(err instanceof AppError)
  t.equal((err as AppError).statusCode, 503)
  await settle()
  t.equal(clock.pendingTimers(), 0)
  t.equal(updates.length, 0)
  t.equal(manager.state().state, 'missing')
  t.equal(calls.length, 1)
})

t.test('constructor rejects nonsense options', async (t) => {
  const source = { fetch: async (): Promise<UpstreamToken> => await Promise.reject(new Error('unused')) }
  const make = (over: { refreshAt?: number, marginSeconds?: number }) => () =>
    new TokenManager({ id: 'bandwidth', source, refreshAt: 0.8, marginSeconds: 10, ...over })
  for (const refreshAt of [0, 1, -0.5, 1.5, Number.NaN]) t.throws(make({ refreshAt }), RangeError, `refreshAt ${refreshAt}`)
  for (const marginSeconds of [-1, Number.NaN]) t.throws(make({ marginSeconds }), RangeError, `marginSeconds ${marginSeconds}`)
  t.doesNotThrow(make({ marginSeconds: 0, refreshAt: 0.5 }), 'no margin is allowed')
})

t.test('defaults: systemClock, Math.random and a silent logger', async (t) => {
  const manager = new TokenManager({
    id: 'bandwidth',
    refreshAt: 0.8,
    marginSeconds: 10,
    source: { fetch: async () => upstreamToken(performance.now(), { accessToken: 'default-path' }) }
  })
  t.teardown(() => { manager.close() })
  const issued = await manager.getToken()
  t.equal(issued.accessToken.reveal(), 'default-path')
  // Read on performance.now(): a different monotonic clock would make the token expired or absurd.
  t.ok(issued.expiresIn <= 3590 && issued.expiresIn >= 3500, `expiresIn ${issued.expiresIn}`)
  t.ok(Math.abs(Date.parse(issued.expiresAt) - (Date.now() + issued.expiresIn * 1000)) < 5000, 'expires_at on Date.now()')

  const failing = new TokenManager({
    id: 'bandwidth', refreshAt: 0.8, marginSeconds: 10, source: { fetch: async () => { throw fetchError('server_error') } }
  })
  t.teardown(() => { failing.close() })
  const err = await unavailable(failing.getToken())
  t.ok(err.retryAfterSeconds !== undefined && err.retryAfterSeconds >= 1 && err.retryAfterSeconds <= 2, 'a jittered ~1 s window')
})

t.test('credentialsHint defaults to a generic phrase in the rejected-credentials log line', async (t) => {
  const logger = captureLogger()
  const { lines } = logger
  const manager = new TokenManager({
    id: 'bandwidth', refreshAt: 0.8, marginSeconds: 10, logger, source: { fetch: async () => { throw fetchError('credentials_rejected', { status: 401 }) } }
  })
  t.teardown(() => { manager.close() })
  await rejection(manager.getToken())
  t.same(lines.filter((l) => l.level === 'error').map((l) => l.msg), [
    'Upstream bandwidth rejected this service\'s client credentials: check the client id and secret'
  ])
})
