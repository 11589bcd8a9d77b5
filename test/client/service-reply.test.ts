// The browser clients' shared request and reply reading (src/client/service-reply.ts), on its own,
// with the fake fetch and FakeClock of test/helpers/client-env.ts: one request with credentials in
// headers only, never cached, cookied or redirected; a timeout (the caller's signal) that covers
// headers() too; what each failure and each status means; a Retry-After capped at
// RETRY_AFTER_CAP_MS; and of an error body only a well-formed `code`, never its text. The token and
// endpoint clients' tests see it only through their own behaviour.
import t from 'tap'
import { getEventListeners } from 'node:events'
import {
  browserBasics, lostProblem, problemOf, RETRY_AFTER_CAP_MS, send, serviceCodeOf, timeoutOption,
  type ServiceHeaders, type ServiceRequest
} from '../../src/client/service-reply.js'
import { MAX_TIMER_MS } from '../../src/lib/values.js'
import { assertNoConsoleOrStorage, fakeClientEnv, type Call, type Responder } from '../helpers/client-env.js'
import { FakeClock, settlesNow } from '../helpers/fake-clock.js'
import { deferred } from '../helpers/fake-provider.js'

const URL_ = 'https://tokens.example.test/token/webrtc'
const HEADERS = { 'X-API-Key': 'the-key' }

/** A fetch that answers only by rejecting, as a browser's does, once the request's signal aborts. */
const hangs: Responder = async (call: Call) => await new Promise<Response>((_resolve, reject) => {
  call.init.signal?.addEventListener('abort', () => { reject(new DOMException('The user aborted a request.', 'AbortError')) })
})

function setup (respond: Responder, over: Partial<ServiceRequest> = {}) {
  const fake = fakeClientEnv(() => respond)
  const controller = new AbortController()
  let asked = 0
  const request: ServiceRequest = {
    fetch: fake.env.fetch,
    url: URL_,
    method: 'GET',
    headers: () => { asked++; return HEADERS },
    signal: controller.signal,
    timeoutMs: 5000,
    ...over
  }
  return { ...fake, controller, request, asked: () => asked }
}

const error = (status: number, body: unknown, headers: Record<string, string> = {}): Response => Response.json(body, { status, headers })

t.test('send: credentials in headers only; no cache, no cookies, no redirect; the answer and the headers it went with', async (t) => {
  const { request, calls, asked } = setup(() => Response.json({ ok: true }), { method: 'POST' })
  const sent = await send(request)
  if (!('response' in sent)) throw new Error(`expected an answer, got ${sent.code}`)
  t.same(await sent.response.json(), { ok: true })
  t.equal(sent.headers, HEADERS, 'the headers it was sent with')
  t.equal(asked(), 1, 'headers() asked once')
  t.equal(calls.length, 1)
  t.equal(calls[0]?.url, URL_, 'the URL as given: nothing added')
  t.same(Object.keys(calls[0]?.init ?? {}).sort(), ['cache', 'credentials', 'headers', 'method', 'redirect', 'signal'], 'no body, mode or anything else')
  t.match(calls[0]?.init, { method: 'POST', headers: HEADERS, cache: 'no-store', credentials: 'omit', redirect: 'error' })
  t.equal(calls[0]?.init.signal, request.signal, 'the caller\'s signal')
  t.equal(getEventListeners(request.signal, 'abort').length, 0, 'no listener left on the signal')
})

t.test('send: headers() may be async, and is asked before the request is sent', async (t) => {
  const order: string[] = []
  const { request } = setup(() => { order.push('fetch'); return new Response('{}') }, {
    headers: async () => { order.push('headers'); return await Promise.resolve({ Authorization: 'Bearer idp-token' }) }
  })
  const sent = await send(request)
  t.same('headers' in sent && sent.headers, { Authorization: 'Bearer idp-token' })
  t.same(order, ['headers', 'fetch'])
})

t.test('send: a signal already aborted is TIMEOUT, without asking headers() or sending', async (t) => {
  const { request, calls, asked, controller } = setup(() => new Response('{}'))
  controller.abort()
  t.same(await send(request), { code: 'TIMEOUT', message: 'no answer from the token service within 5000 ms' })
  t.equal(asked(), 0)
  t.equal(calls.length, 0)
})

t.test('send: headers() that throws or rejects is HEADERS, with the cause, and nothing is sent', async (t) => {
  const thrown = new Error('IdP session expired')
  for (const headers of [() => { throw thrown }, async () => { throw thrown }]) {
    const { request, calls } = setup(() => new Response('{}'), { headers })
    t.same(await send(request), { code: 'HEADERS', message: 'options.headers() failed', cause: thrown })
    t.equal(calls.length, 0)
    t.equal(getEventListeners(request.signal, 'abort').length, 0, 'no listener left on the signal')
  }
})

t.test('send: headers() that never settles is ended by the signal: TIMEOUT, nothing sent', async (t) => {
  const never = deferred<ServiceHeaders>()
  const { request, calls, controller } = setup(() => new Response('{}'), { headers: async () => await never.promise })
  const p = send(request)
  t.notOk(await settlesNow(p), 'waits for headers()')
  controller.abort()
  t.same(await p, { code: 'TIMEOUT', message: 'no answer from the token service within 5000 ms' })
  t.equal(calls.length, 0)
  t.equal(getEventListeners(request.signal, 'abort').length, 0)
  never.resolve(HEADERS)
  t.equal(calls.length, 0, 'headers arriving late send nothing')
})

t.test('send: the signal aborting while headers() answers is TIMEOUT, nothing sent', async (t) => {
  const controller = new AbortController()
  const { request, calls } = setup(() => new Response('{}'), {
    signal: controller.signal,
    headers: () => { controller.abort(); return HEADERS }
  })
  t.same(await send(request), { code: 'TIMEOUT', message: 'no answer from the token service within 5000 ms' })
  t.equal(calls.length, 0)
})

t.test('send: a fetch that fails is NETWORK, without the failure\'s text', async (t) => {
  const { request } = setup(() => { throw new TypeError('Failed to fetch https://user:pw@tokens.example.test') })
  const problem = await send(request)
  t.same(problem, { code: 'NETWORK', message: 'the request to the token service failed (network, or refused by CORS)' })
  t.notMatch(JSON.stringify(problem), 'user:pw')
})

t.test('send: a request the signal aborts in flight is TIMEOUT', async (t) => {
  const { request, controller, calls } = setup(hangs, { timeoutMs: 1234 })
  const p = send(request)
  t.notOk(await settlesNow(p))
  t.equal(calls.length, 1)
  controller.abort()
  t.same(await p, { code: 'TIMEOUT', message: 'no answer from the token service within 1234 ms' })
})

t.test('lostProblem: TIMEOUT when the signal was aborted, else NETWORK', async (t) => {
  t.same(lostProblem(AbortSignal.abort(), 250), { code: 'TIMEOUT', message: 'no answer from the token service within 250 ms' })
  t.same(lostProblem(new AbortController().signal, 250), { code: 'NETWORK', message: 'the request to the token service failed (network, or refused by CORS)' })
})

t.test('timeoutOption: the default when absent; a positive number capped at the longest timer', async (t) => {
  t.equal(timeoutOption(undefined, 7000, 'x'), 7000)
  t.equal(timeoutOption(1, 7000, 'x'), 1)
  t.equal(timeoutOption(0.5, 7000, 'x'), 0.5)
  t.equal(timeoutOption(30_000, 7000, 'x'), 30_000)
  t.equal(timeoutOption(MAX_TIMER_MS, 7000, 'x'), MAX_TIMER_MS)
  t.equal(timeoutOption(MAX_TIMER_MS + 1, 7000, 'x'), MAX_TIMER_MS)
  t.equal(timeoutOption(Infinity, 7000, 'x'), MAX_TIMER_MS, 'Infinity is the longest wait, not an instant timeout')
})

t.test('timeoutOption: anything else is a TypeError naming the caller', async (t) => {
  for (const value of [0, -1, -Infinity, NaN, '5000', null, true, {}, 5000n]) {
    t.throws(() => timeoutOption(value, 7000, 'createTokenClient'), {
      name: 'TypeError',
      message: 'createTokenClient: options.timeoutMs must be a positive number of milliseconds'
    }, String(value))
  }
})

t.test('serviceCodeOf: the error body\'s code when it is a well-formed machine code', async (t) => {
  t.equal(await serviceCodeOf(error(503, { statusCode: 503, code: 'UPSTREAM_UNAVAILABLE', message: 'x' })), 'UPSTREAM_UNAVAILABLE')
  t.equal(await serviceCodeOf(error(400, { code: 'A' })), 'A')
  t.equal(await serviceCodeOf(error(400, { code: `A${'B'.repeat(63)}` })), `A${'B'.repeat(63)}`, '64 characters is the longest')
})

t.test('serviceCodeOf: undefined for anything else, never a throw', async (t) => {
  for (const body of [
    { code: 'lowercase' },
    { code: `A${'B'.repeat(64)}` },
    { code: '1ABC' },
    { code: 'HAS SPACE' },
    { code: 'LINE\nBREAK' },
    { code: '<script>' },
    { code: 42 },
    { code: null },
    { message: 'no code' },
    null,
    [{ code: 'IN_ARRAY' }],
    'CODE'
  ]) {
    t.equal(await serviceCodeOf(error(500, body)), undefined, JSON.stringify(body))
  }
  t.equal(await serviceCodeOf(new Response('<html>Bad Gateway</html>', { status: 502 })), undefined, 'not JSON')
  t.equal(await serviceCodeOf(new Response(null, { status: 502 })), undefined, 'no body')
  const used = error(500, { code: 'X' })
  await used.text()
  t.equal(await serviceCodeOf(used), undefined, 'a body already read')
})

t.test('problemOf: each status and what it means', async (t) => {
  const clock = new FakeClock()
  const cases: Array<[number, string]> = [
    [401, 'UNAUTHORIZED'],
    [408, 'TIMEOUT'],
    [400, 'REJECTED'],
    [403, 'REJECTED'],
    [404, 'REJECTED'],
    [409, 'REJECTED'],
    [499, 'REJECTED'],
    [500, 'SERVER_ERROR'],
    [502, 'SERVER_ERROR'],
    [504, 'SERVER_ERROR'],
    [599, 'SERVER_ERROR'],
    [200, 'BAD_RESPONSE'],
    [201, 'BAD_RESPONSE'],
    [204, 'BAD_RESPONSE'],
    [304, 'BAD_RESPONSE']
  ]
  for (const [status, code] of cases) {
    const body = status === 204 || status === 304 ? null : JSON.stringify({ code: 'SOME_CODE' })
    const problem = await problemOf(new Response(body, { status }), clock.wall())
    t.equal(problem.code, code, `${status}`)
    t.equal(problem.status, status)
    t.equal(problem.retryAfterMs, undefined, `${status}: no Retry-After read`)
  }
})

t.test('problemOf: the message names the status and the service code, nothing from the body', async (t) => {
  const body = { statusCode: 403, code: 'FORBIDDEN_THING', error: 'Forbidden', message: 'key sk-live-MARKER is not allowed' }
  const problem = await problemOf(error(403, body), 0)
  t.same(problem, { code: 'REJECTED', message: 'token service answered 403 (FORBIDDEN_THING)', status: 403, serviceCode: 'FORBIDDEN_THING' })
  t.notMatch(JSON.stringify(problem), 'MARKER')
  const plain = await problemOf(new Response('proxy says MARKER', { status: 502 }), 0)
  t.same(plain, { code: 'SERVER_ERROR', message: 'token service answered 502', status: 502, serviceCode: undefined })
  t.notMatch(JSON.stringify(plain), 'MARKER')
})

t.test('problemOf: 429 and 503 read Retry-After against the given now, capped at RETRY_AFTER_CAP_MS', async (t) => {
  const now = new FakeClock().wall()
  t.equal(RETRY_AFTER_CAP_MS, 600_000)
  const limited = await problemOf(error(429, { code: 'RATE_LIMITED' }, { 'retry-after': '7' }), now)
  t.same(limited, { code: 'RATE_LIMITED', message: 'token service answered 429 (RATE_LIMITED)', status: 429, serviceCode: 'RATE_LIMITED', retryAfterMs: 7000 })
  const date = new Date(now + 30_000).toUTCString()
  t.match(await problemOf(error(503, { code: 'UPSTREAM_UNAVAILABLE' }, { 'retry-after': date }), now), { code: 'UNAVAILABLE', retryAfterMs: 30_000 }, 'an HTTP-date')
  t.match(await problemOf(error(503, {}, { 'retry-after': new Date(now - 5000).toUTCString() }), now), { retryAfterMs: 0 }, 'a date past: no wait')
  t.match(await problemOf(error(429, {}, { 'retry-after': '86400' }), now), { retryAfterMs: RETRY_AFTER_CAP_MS }, 'a day: capped')
  t.match(await problemOf(error(503, {}, { 'retry-after': '600' }), now), { retryAfterMs: RETRY_AFTER_CAP_MS }, 'exactly the cap')
  for (const header of [undefined, 'soon', '-1']) {
    const problem = await problemOf(error(429, {}, header === undefined ? {} : { 'retry-after': header }), now)
    t.equal(problem.retryAfterMs, undefined, `Retry-After: ${String(header)}`)
    t.equal(problem.code, 'RATE_LIMITED')
  }
  t.equal((await problemOf(error(500, {}, { 'retry-after': '7' }), now)).retryAfterMs, undefined, 'only 429 and 503 read it')
})

t.test('browserBasics: wraps the browser\'s own fetch, clocks and timers, and the page location', async (t) => {
  const g = globalThis as unknown as Record<string, unknown>
  t.equal(browserBasics().baseUrl, undefined, 'no location in Node: no base')

  // The globals are swapped only between here and `finally`, with no macrotask turn in between.
  const saved = { fetch: g.fetch, setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, now: Date.now }
  const seen: Array<{ self: unknown, args: unknown[] }> = []
  const record = (result: unknown) => function (this: unknown, ...args: unknown[]) { seen.push({ self: this, args }); return result }
  const response = new Response('ok')
  const init: RequestInit = { method: 'GET' }
  const callback = (): void => {}
  let results: unknown[]
  try {
    g.fetch = record(Promise.resolve(response))
    g.setTimeout = record('handle-1')
    g.clearTimeout = record(undefined)
    g.location = { href: 'https://app.example.test/page?x=1' }
    Date.now = () => 1234
    Object.defineProperty(performance, 'now', { value: () => 56.5, configurable: true, writable: true })
    const basics = browserBasics()
    results = [basics.baseUrl, basics.now(), basics.monotonic(), await basics.fetch('https://x.test/', init), basics.setTimeout(callback, 250), basics.clearTimeout('handle-1')]
  } finally {
    g.fetch = saved.fetch
    g.setTimeout = saved.setTimeout
    g.clearTimeout = saved.clearTimeout
    delete g.location
    Date.now = saved.now
    delete (performance as unknown as Record<string, unknown>).now
  }
  t.same(results, ['https://app.example.test/page?x=1', 1234, 56.5, response, 'handle-1', undefined])
  t.equal(results[3], response, 'the browser\'s own answer')
  t.same(seen.map((s) => s.args), [['https://x.test/', init], [callback, 250], ['handle-1']], 'each called with the arguments')
  t.ok(seen.every((s) => s.self === undefined || s.self === globalThis), 'never as a method of another object (Illegal invocation)')
  t.notOk(Object.prototype.hasOwnProperty.call(performance, 'now'), 'performance.now restored')
})

t.test('the source never touches the console, storage or cookies', async (t) => {
  await assertNoConsoleOrStorage(t, 'service-reply.ts')
})
