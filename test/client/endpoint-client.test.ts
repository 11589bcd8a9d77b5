// The browser endpoint client (src/client/endpoint-client.ts) in Node with a fake fetch and a fake
// clock: create/list/release with credentials in headers only; every failure as an
// EndpointClientError with its status, service code and Retry-After, never a body; release of
// one or of every held endpoint (the service's 404 counts as released), after any create in
// flight; pagehide sends keepalive deletes with the headers at hand; stop(); and the token never
// reaching an error, the console or storage.
// It is served in the same module as the token client. test/browser/ runs it in Chromium.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  createEndpointClient, EndpointClientError, parseEndpointList, parseEndpointToken,
  type EndpointClientEnv, type EndpointClientOptions
} from '../../src/client/endpoint-client.js'
import * as served from '../../src/client/token-client.js'
import { rejection as rejectionOf } from '../helpers/rejection.js'
import { assertNoConsoleOrStorage, fakeClientEnv, type Responder } from '../helpers/client-env.js'
import { settle } from '../helpers/fake-clock.js'
import { deferred } from '../helpers/fake-provider.js'

const BASE = 'https://tokens.example.test/endpoints/webrtc'
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlLTEifQ.endpoint-token-signature'

const created = (n: number): Response => Response.json({ endpoint_id: `e-0000000${n}-aa`, token: `${TOKEN}-${n}`, expires_in: 86_399, expires_at: '2026-01-02T00:00:00.000Z' }, { status: 201 })
const serviceError = (status: number, code: string, headers: Record<string, string> = {}): Response =>
  Response.json({ statusCode: status, code, error: 'x', message: `echo ${TOKEN}` }, { status, headers })

function setup (t: Test, opts: { respond?: Responder, options?: Partial<EndpointClientOptions>, env?: Partial<EndpointClientEnv> } = {}) {
  const fake = fakeClientEnv(() => opts.respond ?? ((call, n) => call.init.method === 'DELETE' ? new Response(null, { status: 204 }) : created(n)))
  const win = new EventTarget()
  const client = createEndpointClient({
    url: BASE,
    headers: () => ({ 'X-API-Key': 'the-key' }),
    env: { ...fake.env, window: win as unknown as EndpointClientEnv['window'], ...opts.env },
    ...opts.options
  })
  t.teardown(() => { client.stop() })
  return { client, calls: fake.calls, clock: fake.clock, win, setResponder: fake.setResponder }
}

const rejection = async (p: Promise<unknown>): Promise<EndpointClientError> => await rejectionOf(p, EndpointClientError)

t.test('create(): POST with the credentials in headers only; the endpoint, frozen; held for release', async (t) => {
  const { client, calls } = setup(t)
  const endpoint = await client.createEndpoint()
  t.same(endpoint, { endpoint_id: 'e-00000001-aa', token: `${TOKEN}-1`, expires_in: 86_399, expires_at: '2026-01-02T00:00:00.000Z' })
  t.ok(Object.isFrozen(endpoint))
  const [call] = calls
  t.equal(call?.url, BASE, 'nothing in the URL')
  t.match(call?.init, { method: 'POST', credentials: 'omit', redirect: 'error', cache: 'no-store' })
  t.same(call?.init.headers, { 'X-API-Key': 'the-key' })
  t.equal(call?.init.body, undefined, 'no body')
  t.same(client.held(), ['e-00000001-aa'])
})

t.test('list(): the caller\'s endpoints, frozen', async (t) => {
  const { client, calls } = setup(t, {
    respond: () => Response.json({ endpoints: [{ endpoint_id: 'e-1', expires_at: '2026-01-02T00:00:00.000Z', status: 'CONNECTED', extra: 1 }] })
  })
  const list = await client.list()
  t.same(list, [{ endpoint_id: 'e-1', expires_at: '2026-01-02T00:00:00.000Z', status: 'CONNECTED' }], 'contract fields only')
  t.ok(Object.isFrozen(list[0]))
  t.equal(calls[0]?.init.method, 'GET')
  t.equal(calls[0]?.url, BASE)
})

t.test('release(id) deletes one; release() every held one; a 404 counts as released', async (t) => {
  const { client, calls, setResponder } = setup(t)
  await client.createEndpoint()
  await client.createEndpoint()
  await client.createEndpoint()
  await client.release('e-00000002-aa')
  t.equal(calls[3]?.url, `${BASE}/e-00000002-aa`)
  t.equal(calls[3]?.init.method, 'DELETE')
  t.same(client.held(), ['e-00000001-aa', 'e-00000003-aa'])
  setResponder((call) => call.url.endsWith('1-aa') ? serviceError(404, 'NOT_FOUND') : new Response(null, { status: 204 }))
  await client.release()
  t.same(client.held(), [], 'both released, the 404 included')
  t.same(calls.slice(4).map((c) => c.url).sort(), [`${BASE}/e-00000001-aa`, `${BASE}/e-00000003-aa`])
  await client.release('e-not/mine?x')
  t.equal(calls.at(-1)?.url, `${BASE}/e-not%2Fmine%3Fx`, 'the id is percent-encoded')
})

t.test('a failed release keeps the endpoint held, so a later one (or pagehide) tries again', async (t) => {
  const { client, setResponder } = setup(t)
  await client.createEndpoint()
  await client.createEndpoint()
  setResponder((call) => call.url.endsWith('1-aa') ? serviceError(503, 'UPSTREAM_UNAVAILABLE', { 'retry-after': '5' }) : new Response(null, { status: 204 }))
  const err = await rejection(client.release())
  t.match(err, { code: 'UNAVAILABLE', status: 503, serviceCode: 'UPSTREAM_UNAVAILABLE', retryAfterMs: 5000 })
  t.same(client.held(), ['e-00000001-aa'])
})

t.test('a 404 that is not the service\'s NOT_FOUND (a proxy\'s page) is a failure: the endpoint stays held', async (t) => {
  const { client, setResponder } = setup(t)
  await client.createEndpoint()
  setResponder(() => new Response('<html>Not Found</html>', { status: 404, headers: { 'content-type': 'text/html' } }))
  t.match(await rejection(client.release()), { code: 'REJECTED', status: 404, serviceCode: undefined })
  t.same(client.held(), ['e-00000001-aa'], 'a later release tries again')
})

t.test('release() waits for a create in flight, and releases what it made', async (t) => {
  const answer = deferred<Response>()
  const { client, calls } = setup(t, { respond: async (call) => call.init.method === 'DELETE' ? new Response(null, { status: 204 }) : await answer.promise })
  const creating = client.createEndpoint()
  await settle()
  const releasing = client.release()
  await settle()
  t.equal(calls.length, 1, 'nothing deleted before the create is answered')
  answer.resolve(created(1))
  await creating
  await releasing
  t.same(calls.map((c) => c.init.method), ['POST', 'DELETE'])
  t.same(client.held(), [], 'released: a sign-out leaves nothing behind')
})

t.test('timeoutMs must be a positive number', async (t) => {
  for (const timeoutMs of [0, -5, Number.NaN]) {
    t.throws(() => createEndpointClient({ url: BASE, headers: () => ({}), timeoutMs }), TypeError, String(timeoutMs))
  }
})

t.test('every status becomes its code, with the service code and Retry-After; never the body', async (t) => {
  const cases: Array<[Response, string]> = [
    [serviceError(401, 'UNAUTHORIZED'), 'UNAUTHORIZED'],
    [serviceError(409, 'ENDPOINT_LIMIT'), 'LIMIT'],
    [serviceError(404, 'NOT_FOUND'), 'REJECTED'],
    [serviceError(400, 'BAD_REQUEST'), 'REJECTED'],
    [serviceError(429, 'RATE_LIMITED', { 'retry-after': '30' }), 'RATE_LIMITED'],
    [serviceError(503, 'UPSTREAM_UNAVAILABLE', { 'retry-after': '7' }), 'UNAVAILABLE'],
    [serviceError(502, 'UPSTREAM_CREDENTIALS_REJECTED'), 'SERVER_ERROR'],
    [new Response('<html>proxy</html>', { status: 500 }), 'SERVER_ERROR'],
    [new Response(null, { status: 302 }), 'BAD_RESPONSE'],
    [Response.json({ endpoint_id: 'e-1' }, { status: 201 }), 'BAD_RESPONSE'],
    [new Response('not json', { status: 201 }), 'BAD_RESPONSE']
  ]
  for (const [response, code] of cases) {
    const { client } = setup(t, { respond: () => response })
    const err = await rejection(client.createEndpoint())
    t.equal(err.code, code, `${response.status} → ${code}`)
    t.equal(err.name, 'EndpointClientError')
    t.equal(err.status, response.status)
    t.notMatch(`${err.message} ${String(err.stack)}`, TOKEN, 'nothing of the body')
    t.same(client.held(), [])
  }
  const { client } = setup(t, { respond: () => serviceError(503, 'UPSTREAM_UNAVAILABLE', { 'retry-after': '7' }) })
  t.match(await rejection(client.createEndpoint()), { serviceCode: 'UPSTREAM_UNAVAILABLE', retryAfterMs: 7000, message: 'token service answered 503 (UPSTREAM_UNAVAILABLE)' })
  const far = setup(t, { respond: () => serviceError(429, 'RATE_LIMITED', { 'retry-after': '99999999' }) })
  t.equal((await rejection(far.client.createEndpoint())).retryAfterMs, 600_000, 'a Retry-After is honoured up to 10 minutes, as by the token client')
  const list = setup(t, { respond: () => Response.json({ endpoints: [{ endpoint_id: 1 }] }) })
  t.equal((await rejection(list.client.list())).code, 'BAD_RESPONSE')
})

t.test('network failure, timeout (headers(), answer or body), headers() failing', async (t) => {
  const network = setup(t, { respond: () => { throw new TypeError('Failed to fetch') } })
  t.equal((await rejection(network.client.createEndpoint())).code, 'NETWORK')

  const stalled = setup(t, {
    respond: async (call) => await new Promise((_resolve, reject) => { call.init.signal?.addEventListener('abort', () => { reject(new DOMException('aborted', 'AbortError')) }) }),
    options: { timeoutMs: 5000 }
  })
  const pending = rejection(stalled.client.createEndpoint())
  await settle()
  stalled.clock.advance(5000)
  t.match(await pending, { code: 'TIMEOUT', message: /5000 ms/ })

  const slowHeaders = deferred<Record<string, string>>()
  const idp = setup(t, { options: { headers: async () => await slowHeaders.promise } })
  const waiting = rejection(idp.client.list())
  await idp.clock.advanceAsync(10_000)
  slowHeaders.resolve({ authorization: 'Bearer late' })
  t.equal((await waiting).code, 'TIMEOUT')
  t.equal(idp.calls.length, 0, 'nothing sent after the timeout')

  const body = setup(t, {
    respond: (call) => new Response(new ReadableStream({
      start (controller) {
        controller.enqueue(new TextEncoder().encode('{"endpoints":'))
        call.init.signal?.addEventListener('abort', () => { controller.error(new DOMException('aborted', 'AbortError')) })
      }
    }), { status: 200 })
  })
  const reading = rejection(body.client.list())
  await settle()
  await body.clock.advanceAsync(10_000)
  t.equal((await reading).code, 'TIMEOUT', 'a body that stalls past the timeout')

  const cause = new Error('IdP down')
  const failing = setup(t, { options: { headers: () => { throw cause } } })
  const err = await rejection(failing.client.createEndpoint())
  t.equal(err.code, 'HEADERS')
  t.equal(err.cause, cause)
  t.equal(failing.calls.length, 0)
})

t.test('pagehide: keepalive deletes of every held endpoint, with the headers at hand', async (t) => {
  const { client, calls, win } = setup(t)
  await client.createEndpoint()
  await client.createEndpoint()
  win.dispatchEvent(new Event('pagehide'))
  await settle()
  const deletes = calls.filter((c) => c.init.method === 'DELETE')
  t.same(deletes.map((c) => c.url), [`${BASE}/e-00000001-aa`, `${BASE}/e-00000002-aa`])
  t.ok(deletes.every((c) => c.init.keepalive === true && c.init.credentials === 'omit'), 'keepalive, no cookies')
  t.same(deletes[0]?.init.headers, { 'X-API-Key': 'the-key' })
  t.same(client.held(), [])
  win.dispatchEvent(new Event('pagehide'))
  await settle()
  t.equal(calls.length, 4, 'nothing held: nothing sent')
})

t.test('pagehide with an async headers(): the last headers sent stand in; none yet, nothing sent', async (t) => {
  let n = 0
  const { client, calls, win } = setup(t, { options: { headers: async () => ({ authorization: `Bearer jwt-${++n}` }) } })
  await client.createEndpoint()
  win.dispatchEvent(new Event('pagehide'))
  await settle()
  t.same(calls[1]?.init.headers, { authorization: 'Bearer jwt-1' }, 'the headers of the last request')

  let signedIn = true
  const throwing = setup(t, { options: { headers: () => { if (signedIn) return { authorization: 'Bearer jwt-in' }; throw new Error('signed out') } } })
  throwing.win.dispatchEvent(new Event('pagehide'))
  t.equal(throwing.calls.length, 0, 'nothing held, nothing sent')
  await throwing.client.createEndpoint()
  signedIn = false
  throwing.win.dispatchEvent(new Event('pagehide'))
  await settle()
  t.same(throwing.calls[1]?.init.headers, { authorization: 'Bearer jwt-in' }, 'headers() throwing: the last headers stand in')
  const failingDelete = setup(t)
  await failingDelete.client.createEndpoint()
  failingDelete.setResponder(() => { throw new TypeError('offline') })
  failingDelete.win.dispatchEvent(new Event('pagehide'))
  await settle()
  t.equal(failingDelete.calls.length, 2, 'a failing keepalive delete is dropped silently')
})

t.test('releaseOnPageHide: false; stop() removes the listener and refuses further calls', async (t) => {
  const off = setup(t, { options: { releaseOnPageHide: false } })
  await off.client.createEndpoint()
  off.win.dispatchEvent(new Event('pagehide'))
  await settle()
  t.equal(off.calls.length, 1)
  const { client, calls, win } = setup(t)
  await client.createEndpoint()
  client.stop()
  win.dispatchEvent(new Event('pagehide'))
  await settle()
  t.equal(calls.length, 1, 'no listener after stop()')
  t.equal((await rejection(client.createEndpoint())).code, 'STOPPED')
  t.same(client.held(), ['e-00000001-aa'], 'stop() releases nothing')
  off.client.stop()
})

t.test('parsers accept only the contract fields', async (t) => {
  t.equal(parseEndpointToken(null), undefined)
  t.equal(parseEndpointToken({ endpoint_id: '', token: 't', expires_in: 1, expires_at: 'x' }), undefined)
  t.equal(parseEndpointToken({ endpoint_id: 'e', token: 't', expires_in: 0, expires_at: 'x' }), undefined)
  t.equal(parseEndpointToken({ endpoint_id: 'e', token: 't', expires_in: 1, expires_at: 2 }), undefined)
  t.same(parseEndpointToken({ endpoint_id: 'e', token: 't', expires_in: 1, expires_at: 'x', more: 1 }), { endpoint_id: 'e', token: 't', expires_in: 1, expires_at: 'x' })
  t.equal(parseEndpointList({}), undefined)
  t.equal(parseEndpointList({ endpoints: ['x'] }), undefined)
  t.same(parseEndpointList({ endpoints: [] }), [])
  t.throws(() => createEndpointClient({ url: BASE } as unknown as EndpointClientOptions), TypeError)
})

t.test('served with the token client: one module offers both', async (t) => {
  t.equal(served.createEndpointClient, createEndpointClient)
  t.equal(served.EndpointClientError, EndpointClientError)
  t.type(served.createTokenClient, 'function')
})

t.test('the source never touches the console, storage or cookies', async (t) => {
  await assertNoConsoleOrStorage(t, 'endpoint-client.ts')
})

t.test('with the default environment: real fetch and timers; the page\'s location and pagehide when present', async (t) => {
  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(`${req.method as string} ${req.url as string}`)
    if (req.method === 'DELETE') return res.writeHead(204).end()
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ endpoint_id: 'e-real', token: 'real-token', expires_in: 60, expires_at: new Date().toISOString() }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const plain = createEndpointClient({ url: `${origin}/endpoints/webrtc`, headers: () => ({}) })
  t.equal((await plain.createEndpoint()).token, 'real-token', 'Node: no window')
  await plain.release()

  const g = globalThis as Record<string, unknown>
  const listeners: string[] = []
  Object.assign(g, {
    location: { href: `${origin}/app/page.html` },
    addEventListener: (type: string) => { listeners.push(`+${type}`) },
    removeEventListener: (type: string) => { listeners.push(`-${type}`) }
  })
  t.teardown(() => { for (const k of ['location', 'addEventListener', 'removeEventListener']) Reflect.deleteProperty(g, k) })
  const client = createEndpointClient({ url: '/endpoints/webrtc', headers: () => ({}) })
  t.equal((await client.createEndpoint()).endpoint_id, 'e-real', 'a relative URL resolves against the page')
  client.stop()
  t.same(listeners, ['+pagehide', '-pagehide'])
  t.same(seen, ['POST /endpoints/webrtc', 'DELETE /endpoints/webrtc/e-real', 'POST /endpoints/webrtc'])
})
