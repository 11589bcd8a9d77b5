// The Endpoints API client (src/brtc/api-client.ts) against a scripted fetch: the exact requests
// (URL, method, headers, JSON body), the answers it accepts, and the class of every failure:
// 429 with Retry-After (capped, and the operation closed meanwhile), 401/403, 5xx, 4xx, a
// redirect, garbage, an oversized body, a network error, a timeout on the injected clock, an
// abort, close() at shutdown. No error message carries a body or a token.
import t from 'tap'
import { BrtcApiClient, BrtcApiError, MAX_BODY_BYTES, nextCursor, parseEndpoint, type BrtcOperation } from '../../src/brtc/api-client.js'
import { Secret } from '../../src/lib/secret.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { hang, jsonResponse, scriptedProvider, type Handler } from '../helpers/fake-provider.js'
import { rejection } from '../helpers/rejection.js'

const ACCOUNT_TOKEN = 'account-token-0123456789abcdef'
const ENDPOINT_TOKEN = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJlLTEifQ.sig-endpoint-token'
const BASE = 'https://api.example.test/v2/accounts/9900000/endpoints'
const EXPIRES = '2026-01-02T00:00:00.000Z'

function client (handler: Handler, opts: { clock?: FakeClock, apiUrl?: string, timeoutMs?: number } = {}) {
  const provider = scriptedProvider(handler)
  const clock = opts.clock ?? new FakeClock()
  let tokenCalls = 0
  const api = new BrtcApiClient({
    apiUrl: new URL(opts.apiUrl ?? 'https://api.example.test/v2'),
    accountId: '9900000',
    accessToken: async () => { tokenCalls++; return new Secret(ACCOUNT_TOKEN) },
    timeoutMs: opts.timeoutMs ?? 5000,
    fetch: provider.fetch,
    clock
  })
  return { api, provider, clock, tokenCalls: () => tokenCalls }
}

const endpointData = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  endpointId: 'e-1234abcd-0000', type: 'WEBRTC', status: 'DISCONNECTED', creationTimestamp: '2026-01-01T00:00:00.000Z', expirationTimestamp: EXPIRES, ...extra
})

const failure = async (p: Promise<unknown>): Promise<BrtcApiError> => await rejection(p, BrtcApiError)

t.test('create: POST the documented JSON with the account token; the token comes back as a Secret', async (t) => {
  const { api, provider } = client(() => jsonResponse(201, { links: [], data: endpointData({ token: ENDPOINT_TOKEN, tag: 'wts1.x' }), errors: [] }))
  const created = await api.create({ tag: 'wts1.x', eventCallbackUrl: new URL('https://app.example.com/events') })
  const [req] = provider.requests
  t.equal(req?.url, BASE)
  t.equal(req?.method, 'POST')
  t.equal(req?.headers.get('authorization'), `Bearer ${ACCOUNT_TOKEN}`)
  t.equal(req?.headers.get('content-type'), 'application/json')
  t.equal(req?.headers.get('accept'), 'application/json')
  t.equal(req?.redirect, 'manual', 'a redirect is never followed with the account token')
  t.same(JSON.parse(req?.body ?? ''), { type: 'WEBRTC', direction: 'BIDIRECTIONAL', tag: 'wts1.x', eventCallbackUrl: 'https://app.example.com/events' })
  t.equal(created.endpointId, 'e-1234abcd-0000')
  t.equal(created.expiresAtMs, Date.parse(EXPIRES))
  t.equal(created.tag, 'wts1.x')
  t.equal(created.status, 'DISCONNECTED')
  t.ok(created.token instanceof Secret)
  t.equal(created.token.reveal(), ENDPOINT_TOKEN)
  t.notMatch(JSON.stringify(created), ENDPOINT_TOKEN, 'serialising the result never shows the token')

  await api.create({ tag: 'wts1.y' })
  t.same(Object.keys(JSON.parse(provider.requests[1]?.body ?? '')), ['type', 'direction', 'tag'], 'no eventCallbackUrl unless configured')
})

t.test('create: an answer without an endpoint or a token is a bad response', async (t) => {
  for (const body of [{ data: endpointData() }, { data: endpointData({ token: '' }) }, { data: { token: ENDPOINT_TOKEN } }, 'not json', { data: endpointData({ token: 'x', expirationTimestamp: 'tomorrow' }) }]) {
    const { api } = client(() => typeof body === 'string'
      ? new Response(body, { status: 201, headers: { 'content-type': 'application/json' } })
      : jsonResponse(201, body))
    const err = await failure(api.create({ tag: 'wts1.x' }))
    t.equal(err.errorClass, 'bad_response')
    t.equal(err.operation, 'create')
  }
  const { api } = client(() => jsonResponse(202, { data: endpointData({ token: ENDPOINT_TOKEN }) }))
  t.equal((await failure(api.create({ tag: 'wts1.x' }))).errorClass, 'bad_response', 'a 2xx other than 201 is not a creation')
})

t.test('listPage: type=WEBRTC, limit=1000, afterCursor from the next link only (never its host)', async (t) => {
  const { api, provider } = client((req) => {
    const cursor = new URL(req.url).searchParams.get('afterCursor')
    return jsonResponse(200, {
      links: cursor === null
        ? [{ href: 'https://elsewhere.example/steal?afterCursor=abc%2B%2F%3D', rel: 'next', method: 'GET' }, { href: '/x', rel: 'self', method: 'GET' }]
        : [{ href: '/x', rel: 'self', method: 'GET' }],
      page: { pageSize: 1000, totalElements: 2, totalPages: 2, pageNumber: 0 },
      data: [endpointData({ tag: 'wts1.a' }), { endpointId: 'broken' }, 'junk'],
      errors: []
    })
  })
  const first = await api.listPage()
  t.equal(provider.requests[0]?.url, `${BASE}?type=WEBRTC&limit=1000`)
  t.equal(provider.requests[0]?.method, 'GET')
  t.equal(first.nextCursor, 'abc+/=')
  t.same(first.endpoints.map((e) => e.endpointId), ['e-1234abcd-0000'], 'unreadable items are left out')
  const second = await api.listPage(first.nextCursor)
  t.equal(new URL(provider.requests[1]?.url ?? '').origin, 'https://api.example.test', 'the next page is asked of the API, not of the link')
  t.equal(new URL(provider.requests[1]?.url ?? '').searchParams.get('afterCursor'), 'abc+/=')
  t.equal(second.nextCursor, undefined)

  const bad = client(() => jsonResponse(200, { data: 'nope' }))
  t.equal((await failure(bad.api.listPage())).errorClass, 'bad_response')
})

t.test('nextCursor and parseEndpoint read only what they need', async (t) => {
  t.equal(nextCursor(undefined), undefined)
  t.equal(nextCursor([{ rel: 'next', href: '/p?other=1' }]), undefined)
  t.equal(nextCursor([{ rel: 'next', href: '/p?afterCursor=' }]), undefined)
  t.equal(nextCursor(['x', { rel: 'next' }, { rel: 'next', href: '/p?afterCursor=k' }]), 'k')
  t.equal(parseEndpoint({ endpointId: 'e-1', expirationTimestamp: EXPIRES })?.status, 'UNKNOWN')
  t.equal(parseEndpoint({ endpointId: 'x'.repeat(201), expirationTimestamp: EXPIRES }), undefined)
  for (const endpointId of ['..', '.', 'e-1/../..', 'e-1?x', '', 'e 1']) {
    t.equal(parseEndpoint({ endpointId, expirationTimestamp: EXPIRES }), undefined, `${JSON.stringify(endpointId)}: never goes into a URL`)
  }
  t.equal(parseEndpoint({ endpointId: 'e-1', expirationTimestamp: 7 }), undefined)
  t.equal(parseEndpoint({ endpointId: 'e-1', expirationTimestamp: EXPIRES, tag: 5 })?.tag, undefined)
})

t.test('get and delete: the id is percent-encoded; 404 is an answer, not a failure', async (t) => {
  const { api, provider } = client((req) => {
    if (req.url.endsWith('/missing')) return jsonResponse(404, { errors: [{ type: 'resource_not_found' }] })
    return req.method === 'DELETE' ? new Response(null, { status: 204 }) : jsonResponse(200, { data: endpointData({ tag: 'wts1.t' }) })
  })
  t.equal((await api.get('e-1/../../x?y'))?.tag, 'wts1.t')
  t.equal(provider.requests[0]?.url, `${BASE}/e-1%2F..%2F..%2Fx%3Fy`)
  t.equal(await api.get('missing'), undefined)
  t.equal(await api.delete('e-1'), 'deleted')
  t.equal(provider.requests[2]?.method, 'DELETE')
  t.equal(await api.delete('missing'), 'gone')

  const odd = client(() => jsonResponse(200, { data: {} }))
  t.equal((await failure(odd.api.get('e-1'))).errorClass, 'bad_response')
  const moved = client(() => new Response(null, { status: 302, headers: { location: 'https://evil.example/' } }))
  t.equal((await failure(moved.api.delete('e-1'))).errorClass, 'bad_response', 'a redirect is a bad response')
})

t.test('401 and 403: the credentials are rejected', async (t) => {
  for (const status of [401, 403]) {
    const { api } = client(() => jsonResponse(status, { errors: [{ description: `secret body ${ACCOUNT_TOKEN}` }] }))
    const err = await failure(api.listPage())
    t.equal(err.errorClass, 'credentials_rejected')
    t.equal(err.status, status)
    t.notMatch(err.message, ACCOUNT_TOKEN, 'never the body')
  }
})

t.test('429: Retry-After honoured up to 60 s; the operation is closed meanwhile, the others are not', async (t) => {
  const clock = new FakeClock()
  let throttle = true
  const { api, provider } = client((req) => {
    if (throttle && req.method === 'POST') return jsonResponse(429, {}, { 'retry-after': '7' })
    return req.method === 'DELETE' ? new Response(null, { status: 204 }) : jsonResponse(201, { data: endpointData({ token: ENDPOINT_TOKEN }) })
  }, { clock })
  const err = await failure(api.create({ tag: 'wts1.x' }))
  t.equal(err.errorClass, 'throttled')
  t.equal(err.retryAfterMs, 7000)
  throttle = false
  const early = await failure(api.create({ tag: 'wts1.x' }))
  t.equal(early.errorClass, 'throttled', 'no second request while the provider said to wait')
  t.equal(early.retryAfterMs, 7000)
  t.equal(provider.requests.length, 1)
  t.equal(await api.delete('e-1'), 'deleted', 'a delete still goes through')
  clock.advance(7000)
  t.equal((await api.create({ tag: 'wts1.x' })).endpointId, 'e-1234abcd-0000')

  const capped = client(() => jsonResponse(429, {}, { 'retry-after': '3600' }))
  t.equal((await failure(capped.api.create({ tag: 'wts1.x' }))).retryAfterMs, 60_000, 'capped at 60 s')
  const bare = client(() => jsonResponse(429, {}))
  t.equal((await failure(bare.api.listPage())).retryAfterMs, 1000, 'no Retry-After: 1 s')
})

t.test('5xx: server_error, with its Retry-After when it gives one; other 4xx: client_error', async (t) => {
  const withHeader = client(() => jsonResponse(503, {}, { 'retry-after': '4' }))
  const err = await failure(withHeader.api.create({ tag: 'wts1.x' }))
  t.equal(err.errorClass, 'server_error')
  t.equal(err.retryAfterMs, 4000)
  const plain = client(() => jsonResponse(500, {}))
  t.equal((await failure(plain.api.listPage())).retryAfterMs, undefined)
  for (const status of [400, 405, 415]) {
    const { api } = client(() => jsonResponse(status, {}))
    t.equal((await failure(api.create({ tag: 'wts1.x' }))).errorClass, 'client_error', String(status))
  }
})

t.test('an error answer whose body fails to cancel is still classified', async (t) => {
  const { api } = client(() => new Response(new ReadableStream({ cancel () { throw new Error('socket gone') } }), { status: 500 }))
  t.equal((await failure(api.listPage())).errorClass, 'server_error')
})

t.test('garbage and oversized bodies are bad responses', async (t) => {
  const garbage = client(() => new Response('<html>maintenance</html>', { status: 200, headers: { 'content-type': 'text/html' } }))
  t.equal((await failure(garbage.api.listPage())).errorClass, 'bad_response')
  const invalidUtf8 = client(() => new Response(new Uint8Array([0x7b, 0xff, 0x7d]), { status: 200 }))
  t.equal((await failure(invalidUtf8.api.listPage())).errorClass, 'bad_response')
  const huge = client(() => new Response(JSON.stringify({ data: [], pad: 'x'.repeat(MAX_BODY_BYTES) }), { status: 200 }))
  t.equal((await failure(huge.api.listPage())).errorClass, 'bad_response')
})

t.test('a network error, a timeout on the injected clock, an abort', async (t) => {
  const refused = client(() => { throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }) })
  const network = await failure(refused.api.listPage())
  t.equal(network.errorClass, 'network')
  t.match(network.message, /ECONNREFUSED/)
  const odd = client(() => { throw new Error('something with a token in it: ' + ACCOUNT_TOKEN) })
  t.notMatch((await failure(odd.api.listPage())).message, ACCOUNT_TOKEN)

  const clock = new FakeClock()
  const slow = client(hang, { clock, timeoutMs: 2500 })
  const pending = failure(slow.api.create({ tag: 'wts1.x' }))
  await settle()
  t.equal(slow.provider.requests.length, 1)
  clock.advance(2499)
  await settle()
  t.equal(slow.provider.requests[0]?.signal.aborted, false, 'not before the timeout')
  clock.advance(1)
  const timeout = await pending
  t.equal(timeout.errorClass, 'timeout')
  t.match(timeout.message, /2500 ms/)
  t.equal(clock.pendingTimers(), 0, 'its timer is cleared')

  const aborted = client(hang)
  const controller = new AbortController()
  const cut = failure(aborted.api.listPage(undefined, controller.signal))
  await settle()
  controller.abort()
  t.equal((await cut).errorClass, 'network')
  const before = client(hang)
  t.equal((await failure(before.api.delete('e-1', AbortSignal.abort()))).errorClass, 'network', 'already aborted')
})

t.test('close(): every call waiting on the provider ends at once, with or without its own signal, and no later one is sent', async (t) => {
  const { api, provider, clock, tokenCalls } = client(hang, { timeoutMs: 60_000 })
  const create = failure(api.create({ tag: 'wts1.x' }))
  const list = failure(api.listPage(undefined, new AbortController().signal))
  await settle()
  t.equal(provider.requests.length, 2)
  api.close()
  t.equal((await create).errorClass, 'network', 'the create ends without the clock moving')
  t.equal((await list).errorClass, 'network', 'so does a call with its own signal')
  t.ok(provider.requests.every((r) => r.signal.aborted), 'both requests were aborted')
  t.equal((await failure(api.delete('e-1'))).errorClass, 'network', 'a later call fails at once')
  t.equal(provider.requests.length, 2, 'without a request')
  t.equal(tokenCalls(), 2, 'or asking for the account token')
  t.equal(clock.pendingTimers(), 0, 'no timeout left behind')
})

t.test('the account token is asked for at every call; its failure passes through untouched', async (t) => {
  const { api, tokenCalls } = client(() => jsonResponse(200, { data: [] }))
  await api.listPage()
  await api.listPage()
  t.equal(tokenCalls(), 2)
  const refusing = new BrtcApiClient({
    apiUrl: new URL('https://api.example.test/v2/'),
    accountId: '9900000',
    accessToken: async () => { throw new Error('token manager: upstream unavailable') },
    timeoutMs: 1000,
    fetch: async () => { throw new Error('never called') }
  })
  await t.rejects(refusing.listPage(), { message: 'token manager: upstream unavailable' })
  t.throws(() => new BrtcApiClient({ apiUrl: new URL('https://x.test'), accountId: '1', accessToken: async () => new Secret('x'), timeoutMs: 0 }), RangeError)
})

t.test('every error names its operation and class, never a token', async (t) => {
  const ops: Array<[BrtcOperation, (api: BrtcApiClient) => Promise<unknown>]> = [
    ['create', async (api) => await api.create({ tag: 'wts1.x' })],
    ['list', async (api) => await api.listPage()],
    ['get', async (api) => await api.get('e-1')],
    ['delete', async (api) => await api.delete('e-1')]
  ]
  for (const [operation, call] of ops) {
    const { api } = client(() => jsonResponse(500, { token: ENDPOINT_TOKEN }))
    const err = await failure(call(api))
    t.equal(err.operation, operation)
    t.equal(err.name, 'BrtcApiError')
    t.match(err.message, new RegExp(`^BRTC ${operation}: HTTP 500$`))
  }
})
