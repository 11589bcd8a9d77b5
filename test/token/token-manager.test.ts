// TokenManager: serving, coalescing, expiry and margin, refresh-ahead, state(), close().
import t from 'tap'
import { UpstreamUnavailableError } from '../../src/lib/errors.js'
import { TokenManager } from '../../src/token/token-manager.js'
import { settle } from '../helpers/fake-clock.js'
import { deferred, hang, tokenResponse } from './fake-fetch.js'
import { harness, lateTimers, rejection, settlesNow, upstreamConfig } from './manager-harness.js'

t.test('a cold getToken fetches once and issues the token with margin-adjusted expiry', async (t) => {
  const { manager, clock, requests } = harness(t, () => tokenResponse({ access_token: 'tok-A', expires_in: 3600 }))
  const issued = await manager.getToken()
  t.equal(issued.accessToken.reveal(), 'tok-A')
  t.equal(issued.tokenType, 'Bearer')
  t.equal(issued.upstream, 'bandwidth')
  t.equal(issued.expiresIn, 3590)
  t.equal(issued.expiresAt, new Date(clock.wall() + 3590_000).toISOString())
  t.equal(manager.id, 'bandwidth')
  clock.advance(100_500)
  const again = await manager.getToken()
  t.equal(requests.length, 1, 'served from cache')
  t.equal(again.expiresIn, 3489, 'whole seconds, rounded down')
  t.equal(again.expiresAt, new Date(clock.wall() + 3489_000).toISOString(), 'expires_at matches expires_in exactly')
  const same = await manager.getToken()
  t.equal(same.expiresAt, again.expiresAt, 'the same instant again: the same string')
  clock.advance(1)
  const later = await manager.getToken()
  t.equal(later.expiresAt, new Date(clock.wall() + 3489_000).toISOString(), 'a millisecond later: formatted anew')
})

t.test('the global upstream sends its scope and uses its 30 s margin', async (t) => {
  const { manager, requests } = harness(t, () => tokenResponse({ expires_in: 600 }), { id: 'global' })
  const issued = await manager.getToken()
  t.equal(requests[0]!.url, 'https://id.voxbone.com/api/v1/oauth2/token')
  t.equal(requests[0]!.body, 'grant_type=client_credentials&scope=voice.webrtc')
  t.equal(issued.expiresIn, 570)
  t.equal(issued.upstream, 'global')
})

t.test('1,000 concurrent cold getToken() calls cause exactly one provider request', async (t) => {
  const answer = deferred<Response>()
  const { manager, requests } = harness(t, async () => await answer.promise)
  const calls = Array.from({ length: 1000 }, async () => await manager.getToken())
  await settle()
  t.equal(requests.length, 1)
  answer.resolve(tokenResponse({ access_token: 'shared' }))
  const issued = await Promise.all(calls)
  t.equal(requests.length, 1)
  t.ok(issued.every((i) => i.accessToken.reveal() === 'shared'))
})

t.test('concurrent callers that join a failing fetch all get the failure, from one request', async (t) => {
  const { manager, requests } = harness(t, () => new Response('', { status: 500 }))
  const errors = await Promise.all(Array.from({ length: 50 }, async () => await rejection(manager.getToken())))
  t.equal(requests.length, 1)
  t.ok(errors.every((e) => e instanceof UpstreamUnavailableError && e.statusCode === 503))
})

t.test('expiry counts from the clock read before the request was sent', async (t) => {
  const answer = deferred<Response>()
  const { manager, clock } = harness(t, async () => await answer.promise, { id: 'global' })
  const p = manager.getToken()
  await settle()
  clock.advance(4000)
  answer.resolve(tokenResponse({ expires_in: 600 }))
  t.equal((await p).expiresIn, 600 - 30 - 4)
})

t.test('a token that arrives with less than 1 s before its margin is a failed fetch, not cached', async (t) => {
  const answer = deferred<Response>()
  const { manager, clock, updates } = harness(t, async () => await answer.promise, { id: 'global' })
  const p = manager.getToken()
  await settle()
  clock.advance(9500) // 40 s lifetime - 30 s margin - 9.5 s in flight = 0.5 s left
  answer.resolve(tokenResponse({ expires_in: 40 }))
  const err = await rejection(p)
  t.ok(err instanceof UpstreamUnavailableError)
  t.equal((err as UpstreamUnavailableError).errorClass, 'bad_response')
  t.equal(updates.length, 0)
  t.same(manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'bad_response' })
})

t.test('margin: handed out until 1 s before the margin, then the caller waits for the fresh token', async (t) => {
  const refresh = deferred<Response>()
  const { manager, clock, requests } = harness(t, async (_req, i) => i === 0 ? tokenResponse({ access_token: 'old', expires_in: 600 }) : await refresh.promise, { id: 'global' })
  await manager.getToken()
  clock.advance(480_000) // refresh-ahead starts and hangs
  await settle()
  t.equal(requests.length, 2)
  clock.advance(88_500) // 600 - 30 - 568.5 = 1.5 s left
  const last = await manager.getToken()
  t.equal(last.accessToken.reveal(), 'old')
  t.equal(last.expiresIn, 1)
  clock.advance(501) // 0.999 s left: not handed out
  const waiting = manager.getToken()
  t.equal(await settlesNow(waiting), false, 'caller waits')
  t.equal(manager.state().state, 'missing')
  refresh.resolve(tokenResponse({ access_token: 'new', expires_in: 600 }))
  const fresh = await waiting
  t.equal(fresh.accessToken.reveal(), 'new')
  t.equal(requests.length, 2, 'joined the refresh in flight')
})

t.test('refresh-ahead at refreshAt of the lifetime; callers never wait meanwhile', async (t) => {
  const refresh = deferred<Response>()
  const { manager, clock, requests, updates, lines } = harness(t, async (_req, i) =>
    i === 0 ? tokenResponse({ access_token: 'first' }) : await refresh.promise)
  await manager.getToken()
  t.equal(clock.pendingTimers(), 1)
  t.equal(clock.nextTimerIn(), 2_880_000, '0.8 x 3600 s')
  clock.advance(2_879_999)
  await settle()
  t.equal(requests.length, 1)
  clock.advance(1)
  await settle()
  t.equal(requests.length, 2, 'background refresh started')
  const during = manager.getToken()
  t.equal(await settlesNow(during), true, 'served without waiting')
  t.equal((await during).accessToken.reveal(), 'first')
  refresh.resolve(tokenResponse({ access_token: 'second', access_token_id: 'tid-2' }))
  await settle()
  t.equal((await manager.getToken()).accessToken.reveal(), 'second')
  t.equal((await manager.getToken()).expiresIn, 3590)
  t.equal(requests.length, 2)
  t.same(updates.map((u) => u.accessToken.reveal()), ['first', 'second'])
  const refreshed = lines.filter((l) => l.msg === 'upstream token refreshed')
  t.same(refreshed.map((l) => l.obj), [
    { upstream: 'bandwidth', expiresIn: 3600 },
    { upstream: 'bandwidth', expiresIn: 3600, tokenId: 'tid-2' }
  ], 'info, tokenId only when given')
  t.ok(refreshed.every((l) => l.level === 'info'))
  t.equal(clock.nextTimerIn(), 2_880_000)
})

t.test('a late timer: the first caller past the refresh point starts the refresh, once', async (t) => {
  const refresh = deferred<Response>()
  const { manager, clock, requests } = harness(t, async (_req, i) => i === 0 ? tokenResponse() : await refresh.promise, { clock: lateTimers })
  await manager.getToken()
  clock.advance(2_879_000)
  await manager.getToken()
  t.equal(requests.length, 1, 'not yet due')
  clock.advance(1000)
  await Promise.all([manager.getToken(), manager.getToken(), manager.getToken()])
  await settle()
  t.equal(requests.length, 2)
  refresh.resolve(tokenResponse({ access_token: 'next' }))
  await settle()
  t.equal((await manager.getToken()).accessToken.reveal(), 'next')
})

t.test('the refresh point is clamped to the last servable instant', async (t) => {
  const { manager, clock } = harness(t, () => tokenResponse({ expires_in: 600 }), { id: 'global', manager: { refreshAt: 0.99 } })
  await manager.getToken()
  t.equal(clock.nextTimerIn(), 569_000, 'min(594 s, 600 - 30 - 1 s)')
})

t.test('after an await the token is checked again before it is handed out', async (t) => {
  const { manager, clock } = harness(t, () => tokenResponse({ expires_in: 600 }), {
    id: 'global',
    // Time jumps while the fetch completes (an event loop stall).
    manager: { onTokenUpdate: () => { clock.advance(590_000) } }
  })
  const err = await rejection(manager.getToken())
  t.ok(err instanceof UpstreamUnavailableError)
  t.equal((err as UpstreamUnavailableError).retryAfterSeconds, 1)
})

t.test('state(): missing, valid with seconds left, failing, and valid again', async (t) => {
  let fail = false
  const { manager, clock } = harness(t, () => fail ? new Response('', { status: 502 }) : tokenResponse({ expires_in: 60 }))
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

t.test('prewarm fetches without awaiting, and does nothing while a token is servable', async (t) => {
  const { manager, requests } = harness(t, () => tokenResponse())
  manager.prewarm()
  await settle()
  t.equal(requests.length, 1)
  t.equal(manager.state().state, 'valid')
  manager.prewarm()
  await settle()
  t.equal(requests.length, 1)
})

t.test('close() aborts the request in flight, rejects its waiters, and clears timers', async (t) => {
  const { manager, clock, requests } = harness(t, hang)
  const waiting = manager.getToken()
  await settle()
  t.equal(clock.pendingTimers(), 1, 'the attempt timeout')
  manager.close()
  t.equal(requests[0]!.signal.aborted, true)
  const err = await rejection(waiting)
  t.ok(err instanceof UpstreamUnavailableError)
  await settle()
  t.equal(clock.pendingTimers(), 0, 'no backoff timer armed after close')
  manager.close()
  t.pass('idempotent')
})

t.test('close() after a success clears the refresh timer; later calls never reach the provider', async (t) => {
  const { manager, clock, requests } = harness(t, () => tokenResponse())
  await manager.getToken()
  t.equal(clock.pendingTimers(), 1)
  manager.close()
  t.equal(clock.pendingTimers(), 0)
  const err = await rejection(manager.getToken())
  t.ok(err instanceof UpstreamUnavailableError)
  manager.prewarm()
  await clock.advanceAsync(3_600_000)
  t.equal(requests.length, 1)
  t.same(manager.state(), { state: 'missing', secondsLeft: 0, lastErrorClass: null })
})

t.test('a provider that ignores the abort and answers after close() changes nothing', async (t) => {
  const late = deferred<Response>()
  const { manager, clock, updates } = harness(t, async () => await late.promise)
  const waiting = rejection(manager.getToken())
  await settle()
  manager.close()
  late.resolve(tokenResponse())
  t.ok(await waiting instanceof UpstreamUnavailableError)
  await settle()
  t.equal(clock.pendingTimers(), 0)
  t.equal(updates.length, 0)
  t.equal(manager.state().state, 'missing')
})

t.test('constructor rejects nonsense options', async (t) => {
  const upstream = upstreamConfig()
  t.throws(() => new TokenManager({ upstream, refreshAt: 0, timeoutMs: 5000 }), RangeError)
  t.throws(() => new TokenManager({ upstream, refreshAt: 1, timeoutMs: 5000 }), RangeError)
  t.throws(() => new TokenManager({ upstream, refreshAt: Number.NaN, timeoutMs: 5000 }), RangeError)
  t.throws(() => new TokenManager({ upstream, refreshAt: 0.8, timeoutMs: 0 }), RangeError)
  t.throws(() => new TokenManager({ upstream: upstreamConfig('bandwidth', { expiryMarginSeconds: -1 }), refreshAt: 0.8, timeoutMs: 5000 }), RangeError)
})

t.test('defaults: systemClock, globalThis.fetch, Math.random and a silent logger', async (t) => {
  const realFetch = globalThis.fetch
  t.teardown(() => { globalThis.fetch = realFetch })
  let calls = 0
  globalThis.fetch = async () => { calls++; return tokenResponse({ access_token: 'default-path' }) }
  const manager = new TokenManager({ upstream: upstreamConfig(), refreshAt: 0.8, timeoutMs: 5000 })
  t.teardown(() => manager.close())
  const issued = await manager.getToken()
  t.equal(issued.accessToken.reveal(), 'default-path')
  t.equal(issued.expiresIn, 3589, 'real time passed, rounded down')
  t.equal(calls, 1)
  globalThis.fetch = async () => new Response('', { status: 500 })
  const failing = new TokenManager({ upstream: upstreamConfig(), refreshAt: 0.8, timeoutMs: 5000 })
  t.teardown(() => failing.close())
  t.ok(await rejection(failing.getToken()) instanceof UpstreamUnavailableError)
})
