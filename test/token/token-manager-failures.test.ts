// TokenManager under failure: backoff schedule, Retry-After, remembered failures, outages,
// failing background refreshes, rejected credentials, timeouts, and what gets logged.
import t from 'tap'
import { UpstreamCredentialsError, UpstreamUnavailableError } from '../../src/lib/errors.js'
import { settle } from '../helpers/fake-clock.js'
import { hang, jsonResponse, tokenResponse } from './fake-fetch.js'
import { CLIENT_SECRET, harness, lateTimers, rejection } from './manager-harness.js'

const status = (code: number, headers: Record<string, string> = {}) => () => new Response('<h1>down</h1>', { status: code, headers })

async function unavailable (p: Promise<unknown>): Promise<UpstreamUnavailableError> {
  const err = await rejection(p)
  if (!(err instanceof UpstreamUnavailableError)) throw new Error(`expected UpstreamUnavailableError, got ${String(err)}`)
  return err
}

for (const [random, expected] of [
  [0.5, [1000, 2000, 4000, 8000, 10000, 10000, 10000]],
  [0, [800, 1600, 3200, 6400, 8000, 8000, 8000]],
  [0.999999, [1200, 2400, 4800, 9600, 10000, 10000, 10000]]
] as const) {
  t.test(`backoff schedule with random() = ${random}: ~1 s doubling, jittered, capped at 10 s`, async (t) => {
    const { manager, clock, requests } = harness(t, status(503), { manager: { random: () => random } })
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
    t.equal(requests.length, expected.length + 1)
  })
}

t.test('inside a backoff window the remembered failure answers at once, without a request', async (t) => {
  const { manager, clock, requests } = harness(t, status(500))
  await unavailable(manager.getToken())
  clock.advance(300)
  const quick = await unavailable(manager.getToken())
  t.equal(quick.retryAfterSeconds, 1, 'ceil(0.7 s)')
  t.equal(quick.errorClass, 'server_error')
  t.equal(requests.length, 1)
  await clock.advanceAsync(700) // retry 2 fails: window 2 s
  await clock.advanceAsync(2000) // retry 3 fails: window 4 s
  t.equal(requests.length, 3)
  clock.advance(1500)
  t.equal((await unavailable(manager.getToken())).retryAfterSeconds, 3, 'ceil(2.5 s)')
  t.equal(requests.length, 3)
})

t.test('Retry-After on 429 (seconds) and 503 (HTTP-date) lengthens the window', async (t) => {
  const throttled = harness(t, status(429, { 'retry-after': '30' }))
  const err = await unavailable(throttled.manager.getToken())
  t.equal(err.errorClass, 'throttled')
  t.equal(err.retryAfterSeconds, 30)
  t.equal(throttled.clock.nextTimerIn(), 30_000)
  throttled.clock.advance(10_000)
  t.equal((await unavailable(throttled.manager.getToken())).retryAfterSeconds, 20)
  t.equal(throttled.requests.length, 1)

  const dated = harness(t, () => status(503, { 'retry-after': new Date(dated.clock.wall() + 45_000).toUTCString() })())
  t.equal((await unavailable(dated.manager.getToken())).retryAfterSeconds, 45)
  t.equal(dated.clock.nextTimerIn(), 45_000)
})

t.test('a Retry-After shorter than the backoff does not shorten it; an absurd one is capped', async (t) => {
  const zero = harness(t, status(503, { 'retry-after': '0' }))
  await unavailable(zero.manager.getToken())
  t.equal(zero.clock.nextTimerIn(), 1000)
  const huge = harness(t, status(429, { 'retry-after': '9999999' }))
  await unavailable(huge.manager.getToken())
  t.equal(huge.clock.nextTimerIn(), 600_000)
})

t.test('after the window, a caller triggers one coalesced fetch even if the retry timer is late', async (t) => {
  let ok = false
  const { manager, clock, requests } = harness(t, () => ok ? tokenResponse() : status(500)(), { clock: lateTimers })
  await unavailable(manager.getToken())
  clock.advance(999)
  await unavailable(manager.getToken())
  t.equal(requests.length, 1)
  clock.advance(1)
  ok = true
  const issued = await Promise.all(Array.from({ length: 10 }, async () => await manager.getToken()))
  t.equal(requests.length, 2)
  t.equal(issued.length, 10)
})

t.test('a 60 s outage without traffic: requests follow the schedule, one warning, quick recovery', async (t) => {
  let healthy = false
  const times: number[] = []
  const h = harness(t, () => {
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
    const h = harness(t, () => { times.push(h.clock.monotonic()); return status(503)() }, { manager: { random: () => random } })
    const answers: number[] = []
    for (let i = 0; i < 600; i++) {
      const err = await unavailable(h.manager.getToken())
      answers.push(err.retryAfterSeconds ?? 0)
      await h.clock.advanceAsync(100)
    }
    const gaps = times.slice(1).map((at, i) => at - times[i]!)
    t.ok(times.length <= 11, `${times.length} requests in 60 s`)
    t.ok(gaps.every((g) => g >= 800 && g <= 10_000), `gaps ${gaps.join(',')}`)
    t.ok(answers.every((s) => s >= 1 && s <= 10), 'Retry-After between 1 and 10 s')
  })
}

t.test('a failing background refresh keeps serving the held token until its margin', async (t) => {
  let fail = false
  const h = harness(t, () => fail ? status(503)() : tokenResponse({ access_token: 'held', expires_in: 600 }), { id: 'global' })
  await h.manager.getToken()
  fail = true
  for (let s = 1; s <= 568; s++) {
    await h.clock.advanceAsync(1000)
    const issued = await h.manager.getToken()
    t.equal(issued.accessToken.reveal(), 'held', `at ${s} s`)
    t.equal(issued.expiresIn, 570 - s, `at ${s} s`)
  }
  // refresh at 480 s, then retries at 481, 483, 487, 495, 505, 515, ... 565
  t.equal(h.requests.length, 1 + 1 + 11)
  t.same(h.manager.state(), { state: 'valid', secondsLeft: 2, lastErrorClass: 'server_error' })
  const warns = h.lines.filter((l) => l.level === 'warn')
  t.equal(warns.length, 1)
  t.equal(warns[0]!.obj.servingHeldToken, true)
  await h.clock.advanceAsync(1500) // 569.5 s: under 1 s before the margin
  const err = await unavailable(h.manager.getToken())
  t.equal(err.retryAfterSeconds, 6, 'next retry at 575 s')
  t.equal(h.requests.length, 13, 'answered from the remembered failure')
  t.same(h.manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'server_error' })
})

t.test('rejected credentials: 502, one error log naming the env vars (not values), slow retries', async (t) => {
  const h = harness(t, status(401))
  const err = await rejection(h.manager.getToken())
  t.ok(err instanceof UpstreamCredentialsError)
  t.equal((err as UpstreamCredentialsError).statusCode, 502)
  t.ok(await rejection(h.manager.getToken()) instanceof UpstreamCredentialsError, 'remembered')
  t.equal(h.requests.length, 1)
  t.equal(h.clock.nextTimerIn(), 60_000)
  t.same(h.manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'credentials_rejected' })
  await h.clock.advanceAsync(600_000)
  t.equal(h.requests.length, 11, 'one retry a minute')
  const errors = h.lines.filter((l) => l.level === 'error')
  t.equal(errors.length, 1)
  t.match(errors[0]!.msg, /BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET/)
  t.notMatch(JSON.stringify(h.lines), CLIENT_SECRET)
  t.notMatch(JSON.stringify(h.lines), 'bw-client')
})

t.test('rejected credentials on global (400 invalid_grant) after a network failure', async (t) => {
  let calls = 0
  const h = harness(t, () => {
    if (calls++ === 0) throw new TypeError('fetch failed')
    return jsonResponse(400, { error: 'invalid_grant' })
  }, { id: 'global' })
  t.equal((await unavailable(h.manager.getToken())).errorClass, 'network')
  await h.clock.advanceAsync(1000)
  t.ok(await rejection(h.manager.getToken()) instanceof UpstreamCredentialsError)
  t.same(h.lines.filter((l) => l.level !== 'info').map((l) => l.level), ['warn', 'error'])
  t.match(h.lines.find((l) => l.level === 'error')!.msg, /GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET/)
})

t.test('a timeout is a 503 with class timeout, reported once to onFetch', async (t) => {
  const h = harness(t, hang)
  const p = unavailable(h.manager.getToken())
  await settle()
  h.clock.advance(5000)
  t.equal((await p).errorClass, 'timeout')
  t.same(h.fetches, [{ outcome: 'timeout', durationMs: 5000 }])
})

t.test('nothing secret in logs or errors across success and failure', async (t) => {
  let n = 0
  const h = harness(t, () => n++ === 0 ? tokenResponse({ access_token: 'ACCESS-TOKEN-VALUE', expires_in: 60 }) : status(503)())
  const issued = await h.manager.getToken()
  await h.clock.advanceAsync(120_000)
  const err = await rejection(h.manager.getToken())
  const text = JSON.stringify(h.lines) + JSON.stringify(err) + String(err) + JSON.stringify(h.manager.state()) + JSON.stringify(issued)
  for (const secret of [CLIENT_SECRET, 'ACCESS-TOKEN-VALUE', Buffer.from(`bw-client:${CLIENT_SECRET}`).toString('base64'), 'down']) {
    t.notMatch(text, secret)
  }
})
