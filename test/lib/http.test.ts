// One outbound exchange under the service's rules (src/lib/http.ts), on its own: the whole exchange,
// body included, within a timeout on the injected clock (a FakeClock here: nothing waits in real
// time); an outside abort; redirects handed back, never followed with the credentials; transport
// failures as a class and a log-safe message; the caller's own errors passed through; no timer or
// listener left behind. Then the body readers: the size cap (which cancels the stream), strict
// UTF-8, JSON, the JSON media type, and discard(). Two tests use loopback because the wire is
// what they test: undici's handling of `redirect: 'manual'`, and a refused connection's code.
import t from 'tap'
import { getEventListeners } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { discard, exchange, isJsonMediaType, readJson, readText, type ExchangeOptions, type TransportFailure } from '../../src/lib/http.js'
import { FakeClock, settlesNow } from '../helpers/fake-clock.js'
import { hang, scriptedProvider, type Handler } from '../helpers/fake-provider.js'
import { closedPort } from '../helpers/net.js'
import { rejection } from '../helpers/rejection.js'

const URL_ = 'https://provider.test/oauth2/token'

/** What `fail` makes of a transport failure in these tests. */
class Failed extends Error {
  constructor (readonly failure: TransportFailure) {
    super(failure.message)
  }
}

class OwnError extends Error {}

function setup (handler: Handler, opts: Partial<ExchangeOptions> = {}) {
  const clock = new FakeClock()
  const provider = scriptedProvider(handler)
  const failures: TransportFailure[] = []
  const run = async <T>(read: (res: Response) => Promise<T>): Promise<T> => await exchange(
    { fetch: provider.fetch, url: URL_, init: { method: 'POST', headers: { authorization: 'Basic c2VjcmV0' }, body: 'grant_type=client_credentials' }, timeoutMs: 5000, clock, ...opts },
    read,
    (err) => err instanceof OwnError,
    (failure) => { failures.push(failure); return new Failed(failure) }
  )
  return { clock, provider, failures, run }
}

/** A response whose body sends `first`, then waits, and errors as undici's does when the request's signal aborts. */
function stalledBody (signal: AbortSignal, first = 'partial'): Response {
  const stream = new ReadableStream<Uint8Array>({
    start (controller) {
      controller.enqueue(new TextEncoder().encode(first))
      signal.addEventListener('abort', () => { controller.error(new DOMException('This operation was aborted', 'AbortError')) }, { once: true })
    }
  })
  return new Response(stream, { status: 200, headers: { 'content-type': 'application/json' } })
}

/** A response whose body arrives in the given chunks. */
function chunked (chunks: Array<Uint8Array | string>, headers: Record<string, string> = {}): Response {
  const queue = chunks.map((c) => typeof c === 'string' ? new TextEncoder().encode(c) : c)
  const stream = new ReadableStream<Uint8Array>({
    pull (controller) {
      const next = queue.shift()
      if (next === undefined) controller.close()
      else controller.enqueue(next)
    }
  })
  return new Response(stream, { headers })
}

t.test('sends the request as given, redirect manual, on its own signal; returns what read makes of the answer', async (t) => {
  const { run, provider, clock } = setup(() => Response.json({ ok: true }))
  const result = await run(async (res) => ({ status: res.status, body: await res.json() }))
  t.same(result, { status: 200, body: { ok: true } })
  t.equal(provider.requests.length, 1)
  const [req] = provider.requests
  t.equal(req?.url, URL_)
  t.equal(req?.method, 'POST')
  t.equal(req?.headers.get('authorization'), 'Basic c2VjcmV0')
  t.equal(req?.body, 'grant_type=client_credentials')
  t.equal(req?.redirect, 'manual')
  t.ok(req?.signal instanceof AbortSignal)
  t.equal(clock.pendingTimers(), 0, 'the timeout timer is cleared')
})

t.test('a URL object is sent as given; redirect and signal in init cannot be overridden', async (t) => {
  const outside = new AbortController()
  const { provider } = setup(() => new Response('x'))
  const clock = new FakeClock()
  await exchange({
    fetch: provider.fetch,
    url: new URL(URL_),
    init: { method: 'GET', redirect: 'follow', signal: outside.signal } as unknown as ExchangeOptions['init'],
    timeoutMs: 1000,
    clock
  }, async (res) => await res.text(), () => false, (f) => new Failed(f))
  t.equal(provider.requests[0]?.url, URL_)
  t.equal(provider.requests[0]?.redirect, 'manual', 'never follow')
  t.not(provider.requests[0]?.signal, outside.signal, 'the exchange\'s own signal')
})

t.test('the timeout is one timer on the injected clock, and nothing else ends the wait', async (t) => {
  const { run, clock, failures } = setup(hang)
  const p = run(async (res) => await res.text())
  t.equal(clock.pendingTimers(), 1)
  t.equal(clock.nextTimerIn(), 5000)
  t.notOk(await settlesNow(p), 'waits while the clock stands still')
  clock.advance(4999)
  t.notOk(await settlesNow(p), 'still waiting 1 ms before the timeout')
  clock.advance(1)
  const err = await rejection(p, Failed)
  t.same(err.failure, { errorClass: 'timeout', message: 'no complete response within 5000 ms' })
  t.equal(failures.length, 1)
  t.equal(clock.pendingTimers(), 0)
})

t.test('the timeout covers the body: one that stalls after the headers times out too', async (t) => {
  const { run, clock } = setup((req) => stalledBody(req.signal))
  const p = run(async (res) => await readText(res, 10_000))
  t.notOk(await settlesNow(p), 'headers arrived; the body has not finished')
  clock.advance(5000)
  t.same((await rejection(p, Failed)).failure, { errorClass: 'timeout', message: 'no complete response within 5000 ms' })
})

t.test('an outside abort in flight ends the exchange as "request aborted"', async (t) => {
  const outside = new AbortController()
  const { run, clock, provider } = setup(hang, { signal: outside.signal })
  const p = run(async (res) => await res.text())
  t.notOk(await settlesNow(p))
  outside.abort()
  t.same((await rejection(p, Failed)).failure, { errorClass: 'network', message: 'request aborted' })
  t.ok(provider.requests[0]?.signal.aborted, 'the request\'s own signal was aborted')
  t.equal(clock.pendingTimers(), 0)
  t.equal(getEventListeners(outside.signal, 'abort').length, 0, 'its listener is removed')
})

t.test('a signal aborted before the exchange aborts the request at once', async (t) => {
  const { run, provider } = setup(hang, { signal: AbortSignal.abort() })
  t.same((await rejection(run(async (res) => await res.text()), Failed)).failure, { errorClass: 'network', message: 'request aborted' })
  t.ok(provider.requests[0]?.signal.aborted, 'fetch saw an aborted signal')
})

t.test('no listener is left on the outside signal after a success', async (t) => {
  const outside = new AbortController()
  const { run } = setup(() => new Response('ok'), { signal: outside.signal })
  t.equal(await run(async (res) => await res.text()), 'ok')
  t.equal(getEventListeners(outside.signal, 'abort').length, 0)
})

t.test('what read throws and isOwn recognises passes through untouched', async (t) => {
  const { run, failures, clock } = setup(() => new Response('{"error":"invalid_client"}', { status: 401 }))
  const own = new OwnError('credentials rejected')
  t.equal(await rejection(run(async () => { throw own })), own)
  t.equal(failures.length, 0, 'fail() is not asked')
  t.equal(clock.pendingTimers(), 0)
})

t.test('a network failure names its system code, never its message', async (t) => {
  const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:443 secret-host'), { code: 'ECONNREFUSED' }) })
  const { run } = setup(() => { throw refused })
  const { failure } = await rejection(run(async (res) => await res.text()), Failed)
  t.same(failure, { errorClass: 'network', message: 'request failed (ECONNREFUSED)' })
})

t.test('a code that is not an E-code, or none at all, is left out', async (t) => {
  for (const thrown of [
    new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }),
    new TypeError('fetch failed: https://user:pass@provider.test'),
    'a thrown string with a secret'
  ]) {
    const { run } = setup(() => { throw thrown })
    t.same((await rejection(run(async (res) => await res.text()), Failed)).failure, { errorClass: 'network', message: 'request failed' })
  }
})

t.test('a body that breaks off, or any error of read that is not its own, is a network failure', async (t) => {
  const { run } = setup(() => new Response('{}'))
  const reset = new TypeError('terminated', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) })
  t.same((await rejection(run(async () => { throw reset }), Failed)).failure, { errorClass: 'network', message: 'request failed (ECONNRESET)' })
})

t.test('wire: a redirect is handed back to read, and its Location is never requested', async (t) => {
  const seen: Array<{ url: string | undefined, headers: IncomingHttpHeaders }> = []
  const server = createServer((req, res) => {
    seen.push({ url: req.url, headers: req.headers })
    const status = /^\/token\/(30[12378])$/.exec(req.url ?? '')?.[1]
    if (status !== undefined) res.writeHead(Number(status), { location: '/elsewhere' }).end()
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('followed')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const clock = new FakeClock()
  const statuses = [301, 302, 303, 307, 308]
  for (const status of statuses) {
    const result = await exchange(
      { fetch: globalThis.fetch, url: `${base}/token/${status}`, init: { method: 'POST', headers: { authorization: 'Basic c2VjcmV0' }, body: 'x' }, timeoutMs: 10_000, clock },
      async (res) => ({ status: res.status, location: res.headers.get('location'), body: await res.text() }),
      () => false,
      (f) => new Failed(f)
    )
    t.same(result, { status, location: '/elsewhere', body: '' }, `the ${status} itself`)
  }
  t.same(seen.map((s) => s.url), statuses.map((status) => `/token/${status}`), 'nothing followed a redirect')
  t.ok(seen.every((s) => s.headers.authorization === 'Basic c2VjcmV0'), 'the credentials went only where they were sent')
  t.equal(clock.pendingTimers(), 0)
})

t.test('wire: a refused connection is "request failed (ECONNREFUSED)", without the address', async (t) => {
  const port = await closedPort()
  const clock = new FakeClock()
  const p = exchange({ fetch: globalThis.fetch, url: `http://127.0.0.1:${port}/token`, init: { method: 'GET' }, timeoutMs: 10_000, clock },
    async (res) => await res.text(), () => false, (f) => new Failed(f))
  t.same((await rejection(p, Failed)).failure, { errorClass: 'network', message: 'request failed (ECONNREFUSED)' })
})

t.test('readText: the body as UTF-8, across chunk boundaries', async (t) => {
  t.equal(await readText(chunked(['{"a":', '1}']), 100), '{"a":1}')
  const e = new TextEncoder().encode('é')
  t.equal(await readText(chunked([e.subarray(0, 1), e.subarray(1)]), 100), 'é', 'a character split between chunks')
  t.equal(await readText(new Response(null), 100), '', 'no body')
  t.equal(await readText(new Response(''), 0), '', 'empty, with a cap of 0')
})

t.test('readText: up to maxBytes exactly; one byte more is undefined', async (t) => {
  t.equal(await readText(chunked(['12345', '67890']), 10), '1234567890')
  t.equal(await readText(chunked(['12345', '678901']), 10), undefined)
  t.equal(await readText(new Response('é'), 1), undefined, 'bytes are counted, not characters')
})

t.test('readText: over the cap, the stream is cancelled, not read to its end', async (t) => {
  let pulled = 0
  let cancelled = false
  const endless = new ReadableStream<Uint8Array>({
    pull (controller) { pulled++; controller.enqueue(new Uint8Array(1024).fill(0x61)) },
    cancel () { cancelled = true }
  })
  t.equal(await readText(new Response(endless), 10_000), undefined)
  t.ok(cancelled, 'cancelled')
  t.ok(pulled < 20, `read about 10 kB, not more (${pulled} chunks)`)
})

t.test('readText: bytes that are not UTF-8 are undefined, never replacement characters', async (t) => {
  t.equal(await readText(new Response(new Uint8Array([0x7b, 0xff, 0x7d])), 100), undefined)
  t.equal(await readText(new Response(new Uint8Array([0x61, 0xc3])), 100), undefined, 'a truncated character')
  t.equal(await readText(new Response(new Uint8Array([0xed, 0xa0, 0x80])), 100), undefined, 'an encoded surrogate')
})

t.test('readJson: parsed JSON, else undefined', async (t) => {
  t.same(await readJson(new Response('{"access_token":"t","expires_in":60}'), 1000), { access_token: 't', expires_in: 60 })
  t.same(await readJson(new Response('[1,2]'), 1000), [1, 2])
  t.equal(await readJson(new Response('null'), 1000), null, 'JSON null is a value')
  t.equal(await readJson(new Response('<html>'), 1000), undefined)
  t.equal(await readJson(new Response(''), 1000), undefined)
  t.equal(await readJson(new Response('{"a":"' + 'x'.repeat(100) + '"}'), 50), undefined, 'over the cap')
  t.equal(await readJson(new Response(new Uint8Array([0x22, 0xff, 0x22])), 100), undefined, 'not UTF-8')
})

t.test('isJsonMediaType: application/json, with any parameters, in any case', async (t) => {
  for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'APPLICATION/JSON', ' application/json ; q=1', 'application/json;']) {
    t.ok(isJsonMediaType(type), type)
  }
  for (const type of [null, undefined, '', 'text/json', 'application/jsonp', 'application/problem+json', 'application/json-patch+json', 'text/html; application/json', 'application/x-www-form-urlencoded', 'application/ json']) {
    t.notOk(isJsonMediaType(type), String(type))
  }
})

t.test('discard: cancels an unread body and resolves to undefined', async (t) => {
  let cancelled = false
  const body = new ReadableStream({ cancel () { cancelled = true } })
  t.equal(await discard(new Response(body)), undefined)
  t.ok(cancelled)
  t.equal(await discard(new Response(null)), undefined, 'no body')
})

t.test('discard: a body that fails to cancel, or is already being read, still resolves', async (t) => {
  const failing = new ReadableStream({ cancel () { throw new Error('cancel failed') } })
  t.equal(await discard(new Response(failing)), undefined)
  const res = new Response('locked')
  res.body?.getReader()
  t.equal(await discard(res), undefined, 'a locked body (its cancel rejects)')
})
