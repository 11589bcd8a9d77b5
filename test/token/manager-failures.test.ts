// TokenManager under failure: the backoff schedule with jitter, remembered failures, Retry-After
// honoured up to 60 s, outages with and without traffic, failing background refreshes, rejected
// credentials (502, 60 s back-off), timeouts, and what gets logged. The backoff itself runs
// over a stubbed source; provider answers (Retry-After, 401, timeouts) over the real ProviderSource.
import t from 'tap'
import { AppError } from '../../src/lib/errors.js'
import { BACKOFF_CAP_MS, CREDENTIALS_RETRY_MS, RETRY_AFTER_CAP_MS } from '../../src/token/backoff.js'
import { settle } from '../helpers/fake-clock.js'
import { hang, jsonResponse, tokenResponse } from '../helpers/fake-provider.js'
import { CLIENT_SECRET, appRejection, fetchError, harness, lateTimers, providerHarness, unavailable, upstreamToken } from '../helpers/manager-harness.js'
import { rejection } from '../helpers/rejection.js'

/** A provider answer with an HTML body (which must never reach a log). */
const status = (code: number, headers: Record<string, string> = {}) => () => new Response('<h1>down</h1>', { status: code, headers })
const serverError = () => { throw fetchError('server_error', { status: 503 }) }

for (const [random, expected] of [
  [0.5, [1000, 2000, 4000, 8000, 10000, 10000, 10000]],
  [0, [800, 1600, 3200, 6400, 8000, 8000, 8000]],
  [0.999999, [1200, 2400, 4800, 9600, 10000, 10000, 10000]]
] as const) {
  t.test(`backoff schedule with random() = ${random}: ~1 s doubling, jittered, capped at 10 s`, async (t) => {
    const { manager, clock, calls } = harness(t, serverError, { manager: { random: () => random } })
    const first = await unavailable(manager.getToken())
    t.equal(first.statusCode, 503)
    t.equal(first.errorClass, 'server_error')
    const gaps: Array<number | undefined> = []
    for (let i = 0; i < expected.length; i++) {
      t.equal(clock.pendingTimers(), 1, 'only the retry timer')
      const gap = clock.nextTimerIn()
      gaps.push(gap)
      await clock.advanceAsync(gap ?? 0)
    }
    t.same(gaps, expected)
    t.equal(calls.length, expected.length + 1)
  })
}

t.test('inside a backoff window the remembered failure answers at once, without a source fetch', async (t) => {
  const { manager, clock, calls } = harness(t, serverError)
  await unavailable(manager.getToken())
  clock.advance(300)
  const quick = await unavailable(manager.getToken())
  t.equal(quick.retryAfterSeconds, 1, 'ceil(0.7 s)')
  t.equal(quick.errorClass, 'server_error')
  t.equal(calls.length, 1)
  await clock.advanceAsync(700) // retry 2 fails: window 2 s
  await clock.advanceAsync(2000) // retry 3 fails: window 4 s
  t.equal(calls.length, 3)
  clock.advance(1500)
  t.equal((await unavailable(manager.getToken())).retryAfterSeconds, 3, 'ceil(2.5 s)')
  t.equal(calls.length, 3)
})

t.test('a source\'s retryAfterMs lengthens the window; a shorter one does not shorten the backoff', async (t) => {
  const longer = harness(t, () => { throw fetchError('throttled', { status: 429, retryAfterMs: 45_000 }) })
  t.equal((await unavailable(longer.manager.getToken())).retryAfterSeconds, 45)
  t.equal(longer.clock.nextTimerIn(), 45_000)
  const shorter = harness(t, () => { throw fetchError('server_error', { status: 503, retryAfterMs: 200 }) })
  await unavailable(shorter.manager.getToken())
  t.equal(shorter.clock.nextTimerIn(), 1000)
})

t.test('provider Retry-After on 429 (seconds) and 503 (HTTP-date) lengthens the window', async (t) => {
  const throttled = providerHarness(t, status(429, { 'retry-after': '30' }))
  const err = await unavailable(throttled.manager.getToken())
  t.equal(err.errorClass, 'throttled')
  t.equal(err.retryAfterSeconds, 30)
  t.equal(throttled.clock.nextTimerIn(), 30_000)
  throttled.clock.advance(10_000)
  t.equal((await unavailable(throttled.manager.getToken())).retryAfterSeconds, 20)
  t.equal(throttled.requests.length, 1)

  const dated = providerHarness(t, () => status(503, { 'retry-after': new Date(dated.clock.wall() + 45_000).toUTCString() })())
  t.equal((await unavailable(dated.manager.getToken())).retryAfterSeconds, 45)
  t.equal(dated.clock.nextTimerIn(), 45_000)
})

t.test('provider Retry-After 7.5 is read as 7.5 s', async (t) => {
  const h = providerHarness(t, status(503, { 'retry-after': '7.5' }))
  const err = await unavailable(h.manager.getToken())
  t.equal(h.clock.nextTimerIn(), 7500)
  t.equal(err.retryAfterSeconds, 8, 'whole seconds, rounded up')
  await h.clock.advanceAsync(7499)
  t.equal(h.requests.length, 1)
  await h.clock.advanceAsync(1)
  t.equal(h.requests.length, 2, 'retried after exactly 7.5 s')
})

t.test('provider Retry-After: 0 does not shorten the backoff; 999999 and a far date are capped at 60 s', async (t) => {
  t.equal(RETRY_AFTER_CAP_MS, 60_000)
  const zero = providerHarness(t, status(503, { 'retry-after': '0' }))
  await unavailable(zero.manager.getToken())
  t.equal(zero.clock.nextTimerIn(), 1000)

  const huge = providerHarness(t, status(429, { 'retry-after': '999999' }))
  const err = await unavailable(huge.manager.getToken())
  t.equal(huge.clock.nextTimerIn(), 60_000)
  t.equal(err.retryAfterSeconds, 60)
  await huge.clock.advanceAsync(60_000)
  t.equal(huge.requests.length, 2, 'retried after the cap, not 11 days later')

  const far = providerHarness(t, status(503, { 'retry-after': 'Fri, 01 Jan 2027 00:00:00 GMT' }))
  await unavailable(far.manager.getToken())
  t.equal(far.clock.nextTimerIn(), 60_000)
})

t.test('after the window, a caller triggers one coalesced fetch even if the retry timer is late', async (t) => {
  let ok = false
  const { manager, clock, calls } = harness(t, (call) => {
    if (!ok) throw fetchError('server_error', { status: 500 })
    return upstreamToken(call.now)
  }, { clock: lateTimers })
  await unavailable(manager.getToken())
  clock.advance(999)
  await unavailable(manager.getToken())
  t.equal(calls.length, 1)
  clock.advance(1)
  ok = true
  const issued = await Promise.all(Array.from({ length: 10 }, async () => await manager.getToken()))
  t.equal(calls.length, 2)
  t.equal(issued.length, 10)
})

t.test('a 60 s outage without traffic: requests follow the schedule, one warning, quick recovery', async (t) => {
  let healthy = false
  const times: number[] = []
  const h = providerHarness(t, () => {
    times.push(h.clock.monotonic() - start)
    return healthy ? tokenResponse() : status(503)()
  })
  const start = h.clock.monotonic()
  h.manager.prewarm()
  await h.clock.advanceAsync(59_999)
  t.same(times, [0, 1000, 3000, 7000, 15000, 25000, 35000, 45000, 55000])
  t.equal(h.manager.state().state, 'failing')
  t.same(h.lines.filter((l) => l.level === 'warn').map((l) => l.obj), [
    { upstream: 'bandwidth', errorClass: 'server_error', reason: 'HTTP 503', status: 503, retryInSeconds: 1, servingHeldToken: false }
  ])
  t.equal(h.lines.filter((l) => l.level === 'debug').length, 8)
  healthy = true
  await h.clock.advanceAsync(10_000)
  t.equal(h.manager.state().state, 'valid', 'recovered within 10 s of the provider healing')
  t.equal(times.length, 10)
  t.same(h.lines.filter((l) => l.msg === 'upstream token fetch recovered').map((l) => [l.level, l.obj]), [
    ['info', { upstream: 'bandwidth', previousErrorClass: 'server_error' }]
  ])
})

for (const random of [0, 0.5, 0.999999]) {
  t.test(`a 60 s outage with a caller every 100 ms (random ${random}) costs no extra requests`, async (t) => {
    const times: number[] = []
    const h = harness(t, (call) => { times.push(call.now); return serverError() }, { manager: { random: () => random } })
    const answers: number[] = []
    for (let i = 0; i < 600; i++) {
      const err = await unavailable(h.manager.getToken())
      answers.push(err.retryAfterSeconds ?? 0)
      await h.clock.advanceAsync(100)
    }
    const gaps = times.slice(1).map((at, i) => at - times[i]!)
    t.ok(times.length <= 11, `${times.length} requests in 60 s`)
    t.ok(gaps.every((g) => g >= 800 && g <= BACKOFF_CAP_MS), `gaps ${gaps.join(',')}`)
    t.ok(answers.every((s) => s >= 1 && s <= 10), 'Retry-After between 1 and 10 s')
  })
}

t.test('a failing background refresh keeps serving the held token until its margin', async (t) => {
  let fail = false
  const h = harness(t, (call) => {
    if (fail) return serverError()
    return upstreamToken(call.now, { accessToken: 'held', expiresIn: 600 })
  }, { manager: { id: 'global', marginSeconds: 30 } })
  await h.manager.getToken()
  fail = true
  const wrong: string[] = []
  for (let s = 1; s <= 568; s++) {
    await h.clock.advanceAsync(1000)
    const issued = await h.manager.getToken()
    if (issued.accessToken.reveal() !== 'held' || issued.expiresIn !== 570 - s) wrong.push(`at ${s} s: ${issued.expiresIn} s`)
  }
  t.same(wrong, [], 'every second: the held token, with its true remaining lifetime')
  // refresh at 480 s, then retries at 481, 483, 487, 495, 505, 515, ... 565
  t.equal(h.calls.length, 1 + 1 + 11)
  t.same(h.manager.state(), { state: 'valid', secondsLeft: 2, lastErrorClass: 'server_error' })
  const warns = h.lines.filter((l) => l.level === 'warn')
  t.equal(warns.length, 1)
  t.equal(warns[0]!.obj.servingHeldToken, true)
  await h.clock.advanceAsync(1500) // 569.5 s: under 1 s before the margin
  const err = await unavailable(h.manager.getToken())
  t.equal(err.retryAfterSeconds, 6, 'next retry at 575 s')
  t.equal(h.calls.length, 13, 'answered from the remembered failure')
  t.same(h.manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'server_error' })
})

t.test('rejected credentials: 502, one error log naming the hint (not values), one retry a minute', async (t) => {
  const h = providerHarness(t, status(401))
  const err = await appRejection(h.manager.getToken(), 'UPSTREAM_CREDENTIALS_REJECTED')
  t.ok(err instanceof AppError)
  t.equal(err.statusCode, 502)
  t.equal(err.errorClass, 'credentials_rejected')
  t.equal((await appRejection(h.manager.getToken(), 'UPSTREAM_CREDENTIALS_REJECTED')).statusCode, 502, 'remembered')
  t.equal(h.requests.length, 1)
  t.equal(h.clock.nextTimerIn(), CREDENTIALS_RETRY_MS)
  t.equal(CREDENTIALS_RETRY_MS, 60_000)
  t.same(h.manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'credentials_rejected' })
  await h.clock.advanceAsync(600_000)
  t.equal(h.requests.length, 11, 'one retry a minute')
  const errors = h.lines.filter((l) => l.level === 'error')
  t.equal(errors.length, 1, 'logged once, not on every retry')
  t.match(errors[0]!.msg, /rejected this service's client credentials: check BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET$/)
  t.notMatch(JSON.stringify(h.lines), CLIENT_SECRET)
  t.notMatch(JSON.stringify(h.lines), 'bw-client')
})

t.test('new credentials end the back-off after rejected ones: one attempt at once, then tokens again', async (t) => {
  let rejected = true
  const h = providerHarness(t, () => rejected ? status(401)() : tokenResponse())
  await appRejection(h.manager.getToken(), 'UPSTREAM_CREDENTIALS_REJECTED')
  rejected = false
  h.manager.credentialsChanged()
  await settle()
  t.equal(h.requests.length, 2, 'asked again at once, not after 60 s')
  t.equal(h.manager.state().state, 'valid')
  t.ok(await h.manager.getToken())

  const other = providerHarness(t, status(503))
  await unavailable(other.manager.getToken())
  other.manager.credentialsChanged()
  await settle()
  t.equal(other.requests.length, 1, 'any other failure keeps its back-off')
})

t.test('a retry timer that fires a little before the back-off ends still retries', async (t) => {
  let ok = false
  // Timers fire half a millisecond before their time on the manager's clock, as Node's can.
  const { manager, clock, calls } = harness(t, (call) => {
    if (!ok) throw fetchError('server_error', { status: 500 })
    return upstreamToken(call.now)
  }, { clock: (time) => ({ monotonic: () => time.monotonic(), wall: () => time.wall(), setTimer: (fn, ms) => time.setTimer(fn, ms - 0.5), clearTimer: (h) => { time.clearTimer(h) } }) })
  manager.prewarm()
  await settle()
  t.equal(calls.length, 1)
  ok = true
  await clock.advanceAsync(5_000)
  t.equal(calls.length, 2, 'the retry was not dropped')
  t.equal(manager.state().state, 'valid')
})

t.test('rejected credentials on global (400 invalid_grant) after a network failure', async (t) => {
  let calls = 0
  const h = providerHarness(t, () => {
    if (calls++ === 0) throw new TypeError('fetch failed')
    return jsonResponse(400, { error: 'invalid_grant' })
  }, { id: 'global' })
  t.equal((await unavailable(h.manager.getToken())).errorClass, 'network')
  await h.clock.advanceAsync(1000)
  t.equal((await rejection(h.manager.getToken()) as AppError).code, 'UPSTREAM_CREDENTIALS_REJECTED')
  t.same(h.lines.filter((l) => l.level !== 'info').map((l) => l.level), ['warn', 'error'])
  t.match(h.lines.find((l) => l.level === 'error')!.msg, /GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET/)
})

t.test('a provider timeout is a 503 with class timeout, reported once by the \'fetched\' event', async (t) => {
  const h = providerHarness(t, hang)
  const p = unavailable(h.manager.getToken())
  await settle()
  h.clock.advance(5000)
  t.equal((await p).errorClass, 'timeout')
  t.same(h.fetches, [{ outcome: 'timeout', durationMs: 5000 }])
  t.equal(h.manager.state().lastErrorClass, 'timeout')
})

t.test('nothing secret in logs or errors across success and failure', async (t) => {
  let n = 0
  const h = providerHarness(t, () => n++ === 0 ? tokenResponse({ access_token: 'ACCESS-TOKEN-VALUE', expires_in: 60 }) : status(503)())
  const issued = await h.manager.getToken()
  await h.clock.advanceAsync(120_000)
  const err = await rejection(h.manager.getToken())
  const text = JSON.stringify(h.lines) + JSON.stringify(err) + String(err) + JSON.stringify(h.manager.state()) + JSON.stringify(issued)
  for (const secret of [CLIENT_SECRET, 'ACCESS-TOKEN-VALUE', Buffer.from(`bw-client:${CLIENT_SECRET}`).toString('base64'), 'down']) {
    t.notMatch(text, secret)
  }
  t.match(text, issued.tokenSha256, 'the token is named by its digest instead')
})
