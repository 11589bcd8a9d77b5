// The browser token client's logic, in Node with a fake clock and a fake fetch: one request for
// concurrent get() calls, refresh at ~80 % of expires_in with jitter, checks on
// visibilitychange/online, waits counted on the wall and the monotonic clock (a clock set back),
// Retry-After and backoff, 401 stops (with a 1 s floor), timeouts that cover headers(), stop(),
// and nothing of the token outside get()/onToken. test/browser/ runs the same code in Chromium.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createTokenClient, parseRetryAfter, parseToken, RETRY_AFTER_CAP_MS, TokenClientError,
  type Token, type TokenClientEnv, type TokenClientOptions
} from '../../src/client/token-client.js'
import { MAX_TIMER_MS } from '../../src/lib/values.js'
import { rejection as rejectionOf } from '../helpers/rejection.js'
import { assertNoConsoleOrStorage, fakeClientEnv, type Call, type Responder } from '../helpers/client-env.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { deferred } from '../helpers/fake-provider.js'

const URL_ = 'https://tokens.example.test/token/webrtc'

function tokenBody (clock: FakeClock, n: number, expiresIn = 600): Record<string, unknown> {
  return {
    access_token: `token-${n}`,
    token_type: 'Bearer',
    expires_in: expiresIn,
    expires_at: new Date(clock.wall() + expiresIn * 1000).toISOString(),
    upstream: 'global'
  }
}

const error = (status: number, headers: Record<string, string> = {}, code = 'SOME_CODE'): Response =>
  Response.json({ statusCode: status, code, error: 'x', message: 'y' }, { status, headers })

function setup (t: Test, opts: { respond?: Responder, env?: Partial<TokenClientEnv>, options?: Partial<TokenClientOptions> } = {}) {
  const fake = fakeClientEnv((clock) => opts.respond ?? ((_call, n) => Response.json(tokenBody(clock, n))))
  const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' })
  const win = new EventTarget()
  const tokens: Token[] = []
  const errors: TokenClientError[] = []
  const reported: unknown[] = []
  const client = createTokenClient({
    url: URL_,
    upstream: 'global',
    headers: () => ({ 'X-API-Key': 'the-key' }),
    onToken: (token) => { tokens.push(token) },
    onError: (err) => { errors.push(err) },
    env: {
      ...fake.env,
      random: () => 0.5,
      reportError: (err) => { reported.push(err) },
      document: doc,
      window: win,
      ...opts.env
    },
    ...opts.options
  })
  t.teardown(() => { client.stop() })
  return { clock: fake.clock, calls: fake.calls, client, tokens, errors, reported, doc, win, setResponder: fake.setResponder }
}

const rejection = async (p: Promise<unknown>): Promise<TokenClientError> => await rejectionOf(p, TokenClientError)

t.test('get() fetches with credentials in headers only and hands the token to onToken', async (t) => {
  const { client, calls, tokens, clock } = setup(t)
  const token = await client.get()
  t.same(token, tokenBody(clock, 1), 'the contract fields')
  t.ok(Object.isFrozen(token))
  t.equal(calls.length, 1)
  const [call] = calls
  t.equal(call?.url, `${URL_}?upstream=global`, 'only the upstream in the URL')
  t.match(call?.init, { method: 'GET', cache: 'no-store', credentials: 'omit', redirect: 'error', headers: { 'X-API-Key': 'the-key' } })
  t.ok(call?.init.signal instanceof AbortSignal)
  t.same(tokens, [token], 'onToken with the first token')
  t.equal(await client.get(), token, 'held: no second request')
  t.equal(calls.length, 1)
})

t.test('without an upstream the URL is left alone; extra response fields are dropped', async (t) => {
  const { client, calls, clock } = setup(t, {
    options: { upstream: undefined },
    respond: (_c, n) => Response.json({ ...tokenBody(clock, n), token_type: 'bearer', access_token_id: 'x', extra: 1 })
  })
  const token = await client.get()
  t.equal(calls[0]?.url, URL_)
  t.same(Object.keys(token).sort(), ['access_token', 'expires_at', 'expires_in', 'token_type', 'upstream'])
  t.equal(token.token_type, 'Bearer')
})

t.test('concurrent get() calls share one request', async (t) => {
  const reply = deferred<Response>()
  const { client, calls, tokens, clock } = setup(t, { respond: async () => await reply.promise })
  const all = Promise.all([client.get(), client.get(), client.get(), client.get(), client.get()])
  await settle()
  t.equal(calls.length, 1, 'one request in flight')
  reply.resolve(Response.json(tokenBody(clock, 1)))
  const got = await all
  t.ok(got.every((tk) => tk === got[0]), 'the same token for everyone')
  t.equal(tokens.length, 1, 'onToken once')
})

for (const [random, fraction] of [[0.5, 0.8], [0, 0.75], [1, 0.85], [-1, 0.75], [7, 0.85]] as const) {
  t.test(`refreshes at ${fraction * 100} % of expires_in with random() = ${random}, before expiry`, async (t) => {
    const { client, calls, tokens, clock } = setup(t, { env: { random: () => random } })
    await client.get()
    const due = Math.round(600_000 * fraction)
    t.equal(clock.nextTimerIn(), due)
    await clock.advanceAsync(due - 1)
    t.equal(calls.length, 1, 'not yet')
    await clock.advanceAsync(1)
    t.equal(calls.length, 2, 'refreshed')
    t.same(tokens.map((tk) => tk.access_token), ['token-1', 'token-2'])
    t.equal((await client.get()).access_token, 'token-2')
    t.equal(clock.nextTimerIn(), due, 'and the next one scheduled')
  })
}

t.test('the refresh is never sooner than 1 s after an answer, however short the token', async (t) => {
  const { client, clock } = setup(t, { respond: (_c, n) => Response.json(tokenBody(clock, n, 1)) })
  await client.get()
  t.equal(clock.nextTimerIn(), 1000)
})

t.test('an answer claiming a lifetime over a day is not a token: no timer beyond what a browser honours', async (t) => {
  const { client, clock, errors } = setup(t, { respond: (_c, n) => Response.json(tokenBody(clock, n, 86_401)) })
  t.match(await rejection(client.get()), { code: 'BAD_RESPONSE', retryInMs: 1000 })
  t.equal(errors.length, 1)
  t.ok((clock.nextTimerIn() ?? 0) <= MAX_TIMER_MS)
})

t.test('a tab becoming visible, or coming online, checks against the wall clock', async (t) => {
  // Timers that never fire, like a throttled background tab's, and a wall clock that moves.
  let skew = 0
  const { client, calls, doc, win, clock } = setup(t, {
    env: { now: () => clock.wall() + skew, setTimeout: () => 'throttled', clearTimeout: () => {} }
  })
  doc.dispatchEvent(new Event('visibilitychange'))
  t.equal(calls.length, 0, 'nothing before the first get()')
  await client.get()
  skew = 500_000 // past the refresh point (480 s), timer still silent
  doc.visibilityState = 'hidden'
  doc.dispatchEvent(new Event('visibilitychange'))
  await settle()
  t.equal(calls.length, 1, 'hidden: nothing')
  doc.visibilityState = 'visible'
  doc.dispatchEvent(new Event('visibilitychange'))
  await settle()
  t.equal(calls.length, 2, 'visible and due: refreshed')
  win.dispatchEvent(new Event('online'))
  await settle()
  t.equal(calls.length, 2, 'online but not due: nothing')
  skew += 500_000
  win.dispatchEvent(new Event('online'))
  await settle()
  t.equal(calls.length, 3, 'online and due: refreshed')
})

t.test('get() past the refresh point answers at once and refreshes in the background', async (t) => {
  let skew = 0
  const { client, calls, tokens, clock } = setup(t, { env: { now: () => clock.wall() + skew, setTimeout: () => 0, clearTimeout: () => {} } })
  const first = await client.get()
  skew = 500_000
  t.equal(await client.get(), first, 'still valid: the held token')
  await settle()
  t.equal(calls.length, 2)
  t.equal(tokens.length, 2)
})

t.test('503 honours Retry-After: no request before it, then a token', async (t) => {
  const { client, calls, errors, tokens, clock, setResponder } = setup(t, {
    respond: () => error(503, { 'retry-after': '7' }, 'UPSTREAM_UNAVAILABLE')
  })
  const err = await rejection(client.get())
  t.match(err, { name: 'TokenClientError', code: 'UNAVAILABLE', status: 503, serviceCode: 'UPSTREAM_UNAVAILABLE', retryInMs: 7700 })
  t.equal(err.message, 'token service answered 503 (UPSTREAM_UNAVAILABLE)')
  t.same(errors, [err], 'reported through onError')
  await clock.advanceAsync(1000)
  const again = await rejection(client.get())
  t.match(again, { code: 'UNAVAILABLE', retryInMs: 6700 }, 'inside the backoff: the same failure, at once')
  t.equal(calls.length, 1, 'no request')
  t.equal(errors.length, 1, 'nothing new to report')
  setResponder((_c, n) => Response.json(tokenBody(clock, n)))
  await clock.advanceAsync(6699)
  t.equal(calls.length, 1, 'still waiting')
  await clock.advanceAsync(1)
  t.equal(calls.length, 2, 'retried after Retry-After')
  t.equal(tokens.length, 1, 'onToken')
  t.equal((await client.get()).access_token, 'token-2')
})

t.test('429 with an HTTP-date Retry-After', async (t) => {
  const clock0 = new FakeClock()
  const { client } = setup(t, { respond: () => error(429, { 'retry-after': new Date(clock0.wall() + 30_000).toUTCString() }, 'RATE_LIMITED') })
  t.match(await rejection(client.get()), { code: 'RATE_LIMITED', status: 429, retryInMs: 33_000 })
})

t.test('without Retry-After: ~1 s doubling, jittered, capped at 30 s', async (t) => {
  const { client, errors, clock } = setup(t, { respond: () => error(500) })
  await rejection(client.get())
  for (let i = 0; i < 7; i++) await clock.advanceAsync(clock.nextTimerIn() ?? 0)
  t.same(errors.map((e) => e.retryInMs), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000])
  t.ok(errors.every((e) => e.code === 'SERVER_ERROR' && e.status === 500))
})

for (const [random, expected] of [
  [0, [800, 1600, 3200, 6400, 12_800, 24_000, 24_000]],
  [0.999999, [1200, 2400, 4800, 9600, 19_200, 30_000, 30_000]]
] as const) {
  t.test(`without Retry-After at random() = ${random}: 1 s doubling, jittered, never above the 30 s cap`, async (t) => {
    const { client, errors, clock } = setup(t, { respond: () => error(500), env: { random: () => random } })
    await rejection(client.get())
    for (let i = 0; i < 6; i++) await clock.advanceAsync(clock.nextTimerIn() ?? 0)
    t.same(errors.map((e) => e.retryInMs), expected)
  })
}

t.test('a 503 without Retry-After backs off; a Retry-After shorter than the backoff does not shorten it', async (t) => {
  let n = 0
  const { client, errors, clock } = setup(t, { respond: () => (n++ === 0 ? error(503) : error(503, { 'retry-after': '0' })) })
  await rejection(client.get())
  await clock.advanceAsync(clock.nextTimerIn() ?? 0)
  t.same(errors.map((e) => e.retryInMs), [1000, 2000])
})

t.test('network failures back off, and coming online retries at once', async (t) => {
  const { client, calls, win, errors, setResponder, clock } = setup(t, { respond: () => { throw new TypeError('Failed to fetch') } })
  const err = await rejection(client.get())
  t.match(err, { code: 'NETWORK', status: undefined, retryInMs: 1000 })
  t.equal(err.message, 'the request to the token service failed (network, or refused by CORS)')
  setResponder((_c, n) => Response.json(tokenBody(clock, n)))
  win.dispatchEvent(new Event('online'))
  await settle()
  t.equal(calls.length, 2, 'retried without waiting')
  t.equal(errors.length, 1)
})

t.test('coming online does not cut short a Retry-After; a visible tab waits for it too', async (t) => {
  const { client, calls, win, doc, clock } = setup(t, { respond: () => error(503, { 'retry-after': '60' }) })
  await rejection(client.get())
  win.dispatchEvent(new Event('online'))
  doc.dispatchEvent(new Event('visibilitychange'))
  await settle()
  t.equal(calls.length, 1)
  t.equal(clock.nextTimerIn(), 66_000, 'the retry timer, re-armed')
})

t.test('401 stops refreshing and reports; an explicit get() tries again', async (t) => {
  const { client, calls, errors, doc, win, clock, setResponder } = setup(t, { respond: () => error(401, {}, 'UNAUTHORIZED') })
  const err = await rejection(client.get())
  t.match(err, { code: 'UNAUTHORIZED', status: 401, retryInMs: undefined })
  t.same(errors, [err])
  t.equal(clock.pendingTimers(), 0, 'no timer left')
  doc.dispatchEvent(new Event('visibilitychange'))
  win.dispatchEvent(new Event('online'))
  await clock.advanceAsync(3_600_000)
  t.equal(calls.length, 1, 'no retry')
  setResponder((_c, n) => Response.json(tokenBody(clock, n)))
  t.equal((await client.get()).access_token, 'token-2', 're-authenticated: get() works again')
  t.equal(clock.pendingTimers(), 1, 'and the refresh cycle resumes')
})

t.test('a 401 on a background refresh keeps the valid token and stops the cycle', async (t) => {
  const { client, calls, errors, clock, setResponder } = setup(t)
  const first = await client.get()
  setResponder(() => error(401))
  await clock.advanceAsync(480_000)
  t.equal(calls.length, 2)
  t.match(errors, [{ code: 'UNAUTHORIZED' }])
  t.equal(clock.pendingTimers(), 0)
  t.equal(await client.get(), first, 'still valid until its deadline')
})

t.test('another 4xx is a configuration error: reported, not retried', async (t) => {
  const { client, clock } = setup(t, { respond: () => error(400, {}, 'UNKNOWN_UPSTREAM') })
  t.match(await rejection(client.get()), { code: 'REJECTED', status: 400, serviceCode: 'UNKNOWN_UPSTREAM', retryInMs: undefined })
  t.equal(clock.pendingTimers(), 0)
})

t.test('a failed refresh keeps serving the current token until its deadline', async (t) => {
  const { client, calls, clock, setResponder } = setup(t)
  const first = await client.get()
  setResponder(() => error(503, { 'retry-after': '600' }))
  await clock.advanceAsync(480_000)
  t.equal(calls.length, 2, 'the refresh failed')
  t.equal(await client.get(), first, 'the held token, no request')
  t.equal(calls.length, 2)
  await clock.advanceAsync(120_000)
  t.match(await rejection(client.get()), { code: 'UNAVAILABLE' }, 'past its deadline: no token, still backing off')
  t.equal(calls.length, 2)
})

t.test('answers that are not tokens are BAD_RESPONSE and retried', async (t) => {
  for (const [what, response] of [
    ['not JSON', () => new Response('<html>', { status: 200 })],
    ['not a token', () => Response.json({ hello: 'world' })],
    ['another 2xx', () => new Response(null, { status: 204 })]
  ] as const) {
    const { client } = setup(t, { respond: response })
    const err = await rejection(client.get())
    t.equal(err.code, 'BAD_RESPONSE', what)
    t.equal(err.retryInMs, 1000)
  }
})

t.test('a wall clock set back while a token is held does not keep it past its lifetime', async (t) => {
  let setBack = 0
  const { client, calls, tokens, clock } = setup(t, { env: { now: () => clock.wall() - setBack } })
  const first = await client.get()
  setBack = 3_600_000
  await clock.advanceAsync(480_000)
  t.equal(calls.length, 2, 'refreshed on time, counted on the monotonic clock')
  t.same(tokens.map((tk) => tk.access_token), ['token-1', 'token-2'])
  t.not(await client.get(), first)
})

t.test('headers() that never settles: the timeout still ends the request, and stop() ends a get()', async (t) => {
  const { client, calls, errors, clock } = setup(t, { options: { headers: async () => await new Promise<never>(() => {}) } })
  const first = rejection(client.get())
  await clock.advanceAsync(10_000)
  t.match(await first, { code: 'TIMEOUT', retryInMs: 1000 })
  t.equal(calls.length, 0, 'nothing was sent')
  t.equal(errors.length, 1)
  await clock.advanceAsync(1000)
  const second = rejection(client.get())
  await settle()
  client.stop()
  t.match(await second, { code: 'STOPPED' })
})

t.test('a 408 is retried like a timeout', async (t) => {
  const { client, calls, clock, setResponder } = setup(t, { respond: () => error(408, {}, 'REQUEST_TIMEOUT') })
  t.match(await rejection(client.get()), { code: 'TIMEOUT', status: 408, retryInMs: 1000 })
  setResponder((_c, n) => Response.json(tokenBody(clock, n)))
  await clock.advanceAsync(1000)
  t.equal(calls.length, 2)
  t.equal((await client.get()).access_token, 'token-2')
})

t.test('a token that expired on its way is not handed out', async (t) => {
  const reply = deferred<Response>()
  const { client, tokens, clock } = setup(t, { respond: async () => await reply.promise })
  const got = rejection(client.get())
  await clock.advanceAsync(3000)
  reply.resolve(Response.json(tokenBody(clock, 1, 2)))
  t.match(await got, { code: 'TIMEOUT', status: 200, retryInMs: 1000 })
  t.equal(tokens.length, 0, 'onToken never saw it')
})

t.test('the same token again (the service still holds it) is not news to onToken', async (t) => {
  const { client, calls, tokens, clock } = setup(t, { respond: () => Response.json({ ...tokenBody(clock, 1), expires_in: 100 }) })
  await client.get()
  await clock.advanceAsync(80_000)
  t.equal(calls.length, 2, 'refreshed')
  t.same(tokens.map((tk) => tk.access_token), ['token-1'], 'onToken once')
})

t.test('after a 401, get() answers with it for a second without asking, so a sign-in loop cannot hammer', async (t) => {
  const { client, calls, errors, clock } = setup(t, { respond: () => error(401, {}, 'UNAUTHORIZED') })
  await rejection(client.get())
  for (let i = 0; i < 5; i++) t.match(await rejection(client.get()), { code: 'UNAUTHORIZED', retryInMs: undefined })
  t.equal(calls.length, 1, 'one request')
  t.equal(errors.length, 1, 'one report')
  await clock.advanceAsync(1000)
  await rejection(client.get())
  t.equal(calls.length, 2, 'asked again a second later')
})

t.test('coming online cuts short only a network failure\'s backoff', async (t) => {
  const { client, calls, win } = setup(t, { respond: () => error(500) })
  await rejection(client.get())
  win.dispatchEvent(new Event('online'))
  await settle()
  t.equal(calls.length, 1, 'a 500 still waits out its backoff')
})

t.test('timeoutMs must be a positive number; Infinity is the longest timer there is', async (t) => {
  const options = { url: URL_, headers: () => ({}), onToken: () => {} }
  for (const timeoutMs of [0, -1, Number.NaN, '10' as unknown as number]) {
    t.throws(() => createTokenClient({ ...options, timeoutMs }), TypeError, String(timeoutMs))
  }
  const delays: number[] = []
  const { client, clock } = setup(t, {
    options: { timeoutMs: Infinity },
    env: { setTimeout: (fn, ms) => { delays.push(ms); return clock.setTimer(fn, ms) } }
  })
  await client.get()
  t.equal(delays[0], MAX_TIMER_MS, 'the request timer')
})

t.test('parseToken accepts only usable tokens', async (t) => {
  const ok = { access_token: 'a', token_type: 'Bearer', expires_in: 5, expires_at: 'x', upstream: 'global' }
  t.ok(parseToken(ok))
  t.ok(parseToken({ ...ok, expires_in: 86_400 }), 'a day at most')
  for (const bad of [
    null, 'token', [], {},
    { ...ok, access_token: '' }, { ...ok, access_token: 1 },
    { ...ok, token_type: 'mac' }, { ...ok, token_type: undefined },
    { ...ok, expires_in: 0 }, { ...ok, expires_in: -1 }, { ...ok, expires_in: Infinity }, { ...ok, expires_in: '5' },
    { ...ok, expires_in: Number.NaN }, { ...ok, expires_in: 86_401 }, { ...ok, expires_in: 1e308 },
    { ...ok, expires_at: undefined }, { ...ok, upstream: 3 }
  ]) t.equal(parseToken(bad), undefined, JSON.stringify(bad) ?? String(bad))
})

t.test('parseRetryAfter: seconds or an HTTP-date, capped', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter(null, now), undefined)
  t.equal(parseRetryAfter(' 5 ', now), 5000)
  t.equal(parseRetryAfter('99999999', now), RETRY_AFTER_CAP_MS)
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000)
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0, 'a date in the past')
  t.equal(parseRetryAfter('Fri, 01 Jan 2027 00:00:00 GMT', now), RETRY_AFTER_CAP_MS)
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter('-3', now), undefined, 'not a date, whatever Date.parse thinks')
})

t.test('only a well-formed service error code is kept from an error body', async (t) => {
  for (const [body, expected] of [
    ['{"code":"RATE_LIMITED"}', 'RATE_LIMITED'],
    ['{"code":"lowercase"}', undefined],
    ['{"code":5}', undefined],
    ['null', undefined],
    ['<h1>Bad Gateway</h1>', undefined]
  ] as const) {
    const { client } = setup(t, { respond: () => new Response(body, { status: 502 }) })
    const err = await rejection(client.get())
    t.equal(err.serviceCode, expected, body)
    t.equal(err.message, `token service answered 502${expected === undefined ? '' : ` (${expected})`}`, 'no body in the message')
  }
})

t.test('no answer within timeoutMs is TIMEOUT', async (t) => {
  const hang = (call: Call): Promise<Response> => new Promise((_resolve, reject) => {
    call.init.signal?.addEventListener('abort', () => { reject(new DOMException('aborted', 'AbortError')) })
  })
  const { client, clock } = setup(t, { respond: hang, options: { timeoutMs: 5000 } })
  const pending = rejection(client.get())
  await clock.advanceAsync(5000)
  const err = await pending
  t.match(err, { code: 'TIMEOUT', retryInMs: 1000 })
  t.equal(err.message, 'no answer from the token service within 5000 ms')
})

t.test('a body that stalls past timeoutMs is TIMEOUT too', async (t) => {
  const stalled = (call: Call): Response => {
    const response = new Response('{}', { status: 200 })
    Object.defineProperty(response, 'json', {
      value: async () => await new Promise((_resolve, reject) => {
        call.init.signal?.addEventListener('abort', () => { reject(new DOMException('aborted', 'AbortError')) })
      })
    })
    return response
  }
  const { client, clock } = setup(t, { respond: stalled })
  const pending = rejection(client.get())
  await clock.advanceAsync(10_000)
  t.match(await pending, { code: 'TIMEOUT' })
})

t.test('headers() failing is HEADERS, with its cause, and retried', async (t) => {
  const cause = new Error('identity provider unreachable')
  const { client, calls } = setup(t, { options: { headers: async () => { throw cause } } })
  const err = await rejection(client.get())
  t.match(err, { code: 'HEADERS', retryInMs: 1000 })
  t.equal(err.cause, cause)
  t.equal(calls.length, 0, 'no request without credentials')
})

t.test('headers() outlasting timeoutMs is TIMEOUT, and no request is sent', async (t) => {
  const slow = deferred<Record<string, string>>()
  const { client, calls, clock } = setup(t, { options: { headers: async () => await slow.promise } })
  const pending = rejection(client.get())
  await clock.advanceAsync(10_000)
  slow.resolve({ 'X-API-Key': 'late' })
  t.match(await pending, { code: 'TIMEOUT' })
  t.equal(calls.length, 0)
})

t.test('stop() aborts the request in flight, rejects waiting callers and removes its listeners', async (t) => {
  const hang = (call: Call): Promise<Response> => new Promise((_resolve, reject) => {
    call.init.signal?.addEventListener('abort', () => { reject(new DOMException('aborted', 'AbortError')) })
  })
  const { client, calls, errors, doc, win, clock } = setup(t, { respond: hang })
  const waiting = rejection(client.get())
  await settle()
  client.stop()
  t.match(await waiting, { code: 'STOPPED', message: 'the token client was stopped' })
  t.equal(errors.length, 0, 'the app asked for it: nothing reported')
  t.equal(clock.pendingTimers(), 0)
  doc.dispatchEvent(new Event('visibilitychange'))
  win.dispatchEvent(new Event('online'))
  await settle()
  t.equal(calls.length, 1)
  t.match(await rejection(client.get()), { code: 'STOPPED' })
  t.doesNotThrow(() => { client.stop() }, 'stop() twice is harmless')
})

t.test('stop() drops the held token and its refresh', async (t) => {
  const { client, clock } = setup(t)
  await client.get()
  client.stop()
  t.equal(clock.pendingTimers(), 0)
  t.match(await rejection(client.get()), { code: 'STOPPED' })
})

t.test('exceptions thrown by onToken and onError go to reportError, not into the client', async (t) => {
  const boom = new Error('app bug')
  let fail = false
  const { client, reported, clock } = setup(t, {
    respond: (_c, n) => (fail ? error(500) : Response.json(tokenBody(clock, n))),
    options: { onToken: () => { throw boom }, onError: () => { throw boom } }
  })
  t.equal((await client.get()).access_token, 'token-1', 'get() still resolves')
  fail = true
  await clock.advanceAsync(480_000)
  t.same(reported, [boom, boom])
  t.equal(clock.pendingTimers(), 1, 'the retry is still scheduled')
})

t.test('options are checked', async (t) => {
  const base = { url: URL_, headers: () => ({}), onToken: () => {} }
  t.throws(() => createTokenClient({ ...base, headers: undefined } as unknown as TokenClientOptions), TypeError)
  t.throws(() => createTokenClient({ ...base, onToken: 'x' } as unknown as TokenClientOptions), TypeError)
  t.throws(() => createTokenClient({ ...base, onError: 1 } as unknown as TokenClientOptions), TypeError)
  t.throws(() => createTokenClient(undefined as unknown as TokenClientOptions), TypeError)
  t.throws(() => createTokenClient({ ...base, url: 'not a url' }), TypeError)
})

t.test('the source never touches the console, storage or cookies', async (t) => {
  await assertNoConsoleOrStorage(t, 'token-client.ts')
})

t.test('with the default environment: real fetch and timers; browser globals when present', async (t) => {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ access_token: 'real', token_type: 'Bearer', expires_in: 600, expires_at: new Date().toISOString(), upstream: new URL(req.url as string, 'http://x').searchParams.get('upstream') ?? 'global' }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  await t.test('Node: no document, no window', async (t) => {
    const client = createTokenClient({ url: `${origin}/token/webrtc`, upstream: 'bandwidth', headers: () => ({}), onToken: () => {} })
    t.equal((await client.get()).upstream, 'bandwidth')
    client.stop()
  })

  await t.test('browser-like globals: location, document, addEventListener, reportError', async (t) => {
    const g = globalThis as Record<string, unknown>
    const listeners: string[] = []
    const reported: unknown[] = []
    const target = { addEventListener: (type: string) => { listeners.push(`+${type}`) }, removeEventListener: (type: string) => { listeners.push(`-${type}`) } }
    Object.assign(g, {
      location: { href: `${origin}/app/page.html` },
      document: { ...target, visibilityState: 'visible' },
      addEventListener: target.addEventListener,
      removeEventListener: target.removeEventListener,
      reportError: (err: unknown) => { reported.push(err) }
    })
    t.teardown(() => { for (const k of ['location', 'document', 'addEventListener', 'removeEventListener', 'reportError']) Reflect.deleteProperty(g, k) })
    const boom = new Error('onToken bug')
    const client = createTokenClient({ url: '/token/webrtc', headers: () => ({}), onToken: () => { throw boom } })
    t.equal((await client.get()).access_token, 'real', 'a relative URL resolves against the page')
    t.same(reported, [boom], 'window.reportError')
    client.stop()
    t.same(listeners, ['+visibilitychange', '+online', '-visibilitychange', '-online'])
  })

  await t.test('without reportError an exception is rethrown in a microtask, like a listener error', async (t) => {
    const original = globalThis.queueMicrotask
    t.teardown(() => { globalThis.queueMicrotask = original })
    const queued: Array<() => void> = []
    // Swapped only for the one call that matters: fetch itself needs the real one.
    const once = (fn: () => void): void => { queued.push(fn); globalThis.queueMicrotask = original }
    const boom = new Error('onToken bug')
    const client = createTokenClient({
      url: `${origin}/token/webrtc`,
      headers: () => ({}),
      onToken: () => { globalThis.queueMicrotask = once; throw boom }
    })
    await client.get()
    client.stop()
    t.equal(queued.length, 1)
    t.throws(() => queued[0]?.(), boom)
  })
})
