// The emulated BRTC Endpoints API's operations on the wire, with a bandwidth token obtained the
// documented way: create (201, the spec's body), get, delete (204, then 404), list paged by the
// next link's afterCursor, filters, endpoint lifetime, routing, and the options.
import t from 'tap'
import type { Test } from 'tap'
import { request } from 'node:http'
import { createUpstreamEmulator } from '../../emulator/upstream-emulator.js'
import type { UpstreamEmulator } from '../../emulator/upstream-emulator.js'
import { bandwidthToken, brtcCall, decodeJwtPart, JWT_SHAPE, postControl, startEmulator, WEBRTC_ENDPOINT } from '../helpers/emulator.js'

const ENDPOINT_ID = /^e-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const DEVICE_ID = /^d-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ENDPOINTS = '/accounts/9900000/endpoints'

interface Link { href: string, rel: string, method: string }
interface Listed { links: Link[], page: Record<string, number>, data: Array<Record<string, unknown>>, errors: unknown[] }

async function setup (t: Test, options: Parameters<typeof startEmulator>[1] = {}): Promise<{ emu: UpstreamEmulator, token: string }> {
  const emu = await startEmulator(t, options)
  return { emu, token: await bandwidthToken(emu) }
}

async function create (emu: UpstreamEmulator, token: string, body: unknown = WEBRTC_ENDPOINT): Promise<Record<string, unknown>> {
  const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body })
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { data: Record<string, unknown> }).data
}

t.test('create: 201 with the spec body shape; get returns it; the emulator stores it', async (t) => {
  const { emu, token } = await setup(t)
  const before = Date.now()
  const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: { ...WEBRTC_ENDPOINT, tag: 'room-7' } })
  const after = Date.now()
  t.equal(res.status, 201)
  t.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8')
  t.equal(res.headers.get('cache-control'), 'no-store', 'the answer carries a token')
  const body = await res.json() as { links: Link[], data: Record<string, unknown>, errors: unknown[] }
  t.same(Object.keys(body), ['links', 'data', 'errors'])
  const data = body.data
  t.same(Object.keys(data), ['endpointId', 'token', 'type', 'status', 'creationTimestamp', 'expirationTimestamp', 'devices', 'tag'])
  t.match(data.endpointId, ENDPOINT_ID)
  t.match(data.token, JWT_SHAPE)
  t.match(data, { type: 'WEBRTC', status: 'DISCONNECTED', devices: [], tag: 'room-7' })
  const created = Date.parse(data.creationTimestamp as string)
  t.ok(created >= before && created <= after, 'creationTimestamp is now')
  t.equal(data.creationTimestamp, new Date(created).toISOString(), 'ISO 8601, UTC')
  t.equal(Date.parse(data.expirationTimestamp as string) - created, 86_400_000, 'tokens last 24 hours')
  const claims = decodeJwtPart((data.token as string).split('.')[1])
  t.match(claims, { sub: data.endpointId, accountId: '9900000', emulated: true })
  t.equal((claims.exp as number) - (claims.iat as number), 86_400)
  t.same(body.links, [{ href: `${emu.brtcApiUrl}${ENDPOINTS}/${data.endpointId as string}`, rel: 'endpoint', method: 'GET' }])
  t.same(body.errors, [])

  const got = await brtcCall(emu, token, 'GET', `${ENDPOINTS}/${data.endpointId as string}`)
  t.equal(got.status, 200)
  const getBody = await got.json() as { links: Link[], data: Record<string, unknown>, errors: unknown[] }
  t.same(getBody, {
    links: [{ href: `${emu.brtcApiUrl}${ENDPOINTS}/${data.endpointId as string}`, rel: 'self', method: 'GET' }],
    data: {
      endpointId: data.endpointId,
      type: 'WEBRTC',
      status: 'DISCONNECTED',
      creationTimestamp: data.creationTimestamp,
      expirationTimestamp: data.expirationTimestamp,
      devices: [],
      tag: 'room-7'
    },
    errors: []
  })
  t.same(Object.keys(getBody.data), ['endpointId', 'type', 'status', 'creationTimestamp', 'expirationTimestamp', 'devices', 'tag'])
  t.notOk('token' in getBody.data, 'get never returns the endpoint token')

  t.match(emu.brtcEndpoints(), [{ accountId: '9900000', endpointId: data.endpointId, token: data.token, direction: 'BIDIRECTIONAL', tag: 'room-7' }])
  t.equal(emu.brtcEndpoints().length, 1)
  t.match(emu.stats().brtc, { requests: 2, operations: { create: 1, get: 1, list: 0, delete: 0 }, created: 1, endpoints: 1 })
  const copy = emu.brtcEndpoints()
  copy[0]!.tag = 'changed'
  t.equal(emu.brtcEndpoints()[0]?.tag, 'room-7', 'callers get copies')
})

t.test('create with every optional field; without tag there is no tag field', async (t) => {
  const { emu, token } = await setup(t)
  const full = {
    type: 'WEBRTC',
    direction: 'INBOUND',
    eventCallbackUrl: 'https://myapp.example/callback',
    eventFallbackUrl: 'http://fallback.myapp.example:8080/cb?x=1',
    tag: 't'.repeat(1024),
    connectionMetadata: { any: ['thing', 1] }
  }
  const data = await create(emu, token, full)
  t.equal(data.tag, full.tag, 'a 1024-character tag is returned as given')
  t.match(emu.brtcEndpoints()[0], full)
  for (const direction of ['OUTBOUND', 'BIDIRECTIONAL']) t.equal((await create(emu, token, { type: 'WEBRTC', direction })).status, 'DISCONNECTED')
  const bare = await create(emu, token)
  t.notOk('tag' in bare)
  const list = await (await brtcCall(emu, token, 'GET', ENDPOINTS)).json() as Listed
  t.same(list.data.map((e) => e.tag), [full.tag, undefined, undefined, undefined])
  t.notOk('tag' in (list.data[3] as object))
  const ids = new Set(emu.brtcEndpoints().map((e) => e.endpointId))
  t.equal(ids.size, 4, 'ids are unique')
})

t.test('delete: 204 without a body, then get and delete answer 404', async (t) => {
  const { emu, token } = await setup(t)
  const { endpointId } = await create(emu, token) as { endpointId: string }
  const kept = await create(emu, token) as { endpointId: string }
  const res = await brtcCall(emu, token, 'DELETE', `${ENDPOINTS}/${endpointId}`)
  t.equal(res.status, 204)
  t.equal(res.headers.get('content-type'), null)
  t.equal(await res.text(), '')
  t.same(emu.brtcEndpoints().map((e) => e.endpointId), [kept.endpointId])
  for (const method of ['GET', 'DELETE']) {
    const gone = await brtcCall(emu, token, method, `${ENDPOINTS}/${endpointId}`)
    t.equal(gone.status, 404, method)
    const body = await gone.json() as { errors: Array<Record<string, unknown>> }
    t.match(body, { links: [], data: null, errors: [{ type: 'resource_not_found', code: '404', source: { reference: endpointId } }] })
  }
  t.equal((await brtcCall(emu, token, 'GET', `${ENDPOINTS}/e-00000000-00000000-0000-0000-0000-000000000000`)).status, 404, 'never existed')
  t.match(emu.brtcRequests().map((e) => [e.operation, e.endpointId, e.outcome]), [
    ['create', String, 201], ['create', kept.endpointId, 201], ['delete', endpointId, 204], ['get', endpointId, 404], ['delete', endpointId, 404], ['get', String, 404]
  ])
})

t.test('list: pages by the next link, page fields, the last page has no next link', async (t) => {
  const { emu, token } = await setup(t)
  const empty = await (await brtcCall(emu, token, 'GET', ENDPOINTS)).json() as Listed
  t.same(empty, {
    links: [{ href: `${emu.brtcApiUrl}${ENDPOINTS}`, rel: 'self', method: 'GET' }],
    page: { pageSize: 100, totalElements: 0, totalPages: 0, pageNumber: 0 },
    data: [],
    errors: []
  })
  const created: string[] = []
  for (let i = 0; i < 5; i++) created.push((await create(emu, token, { ...WEBRTC_ENDPOINT, tag: `n${i}` })).endpointId as string)

  const whole = await (await brtcCall(emu, token, 'GET', ENDPOINTS)).json() as Listed
  t.same(whole.page, { pageSize: 100, totalElements: 5, totalPages: 1, pageNumber: 0 }, 'default limit 100')
  t.same(whole.data.map((e) => e.endpointId), created, 'creation order')
  t.same(Object.keys(whole.data[0] as object), ['endpointId', 'type', 'status', 'creationTimestamp', 'expirationTimestamp', 'tag'], 'list items: no devices, no token')
  t.equal(whole.links.length, 1)

  const seen: string[] = []
  const pages: Array<Listed['page']> = []
  let href: string | undefined = `${emu.brtcApiUrl}${ENDPOINTS}?limit=2`
  const selfLinks: string[] = []
  while (href !== undefined) {
    const res = await fetch(href, { headers: { authorization: `Bearer ${token}` } })
    t.equal(res.status, 200)
    const body = await res.json() as Listed
    seen.push(...body.data.map((e) => e.endpointId as string))
    pages.push(body.page)
    selfLinks.push(body.links.find((l) => l.rel === 'self')?.href as string)
    const next = body.links.find((l) => l.rel === 'next')
    if (next !== undefined) {
      t.equal(next.method, 'GET')
      const url = new URL(next.href)
      t.equal(url.searchParams.get('limit'), '2', 'the next link keeps the query')
      t.type(url.searchParams.get('afterCursor'), 'string')
    }
    href = next?.href
  }
  t.same(seen, created, 'every endpoint once, in order')
  t.same(pages, [0, 1, 2].map((pageNumber) => ({ pageSize: 2, totalElements: 5, totalPages: 3, pageNumber })))
  t.equal(selfLinks[0], `${emu.brtcApiUrl}${ENDPOINTS}?limit=2`, 'self is the request')
  t.match(selfLinks[1], /[?&]afterCursor=/)

  // The cursor is opaque but stays valid when the endpoint it points after is deleted.
  const first = await (await brtcCall(emu, token, 'GET', `${ENDPOINTS}?limit=2`)).json() as Listed
  const cursor = new URL(first.links.find((l) => l.rel === 'next')?.href as string).searchParams.get('afterCursor') as string
  t.equal((await brtcCall(emu, token, 'DELETE', `${ENDPOINTS}/${created[1] as string}`)).status, 204)
  const after = await (await brtcCall(emu, token, 'GET', `${ENDPOINTS}?limit=2&afterCursor=${encodeURIComponent(cursor)}`)).json() as Listed
  t.same(after.data.map((e) => e.endpointId), created.slice(2, 4))
  t.same(after.page, { pageSize: 2, totalElements: 4, totalPages: 2, pageNumber: 0 })
  const exact = await (await brtcCall(emu, token, 'GET', `${ENDPOINTS}?limit=4`)).json() as Listed
  t.equal(exact.data.length, 4)
  t.notOk(exact.links.some((l) => l.rel === 'next'), 'a full last page has no next link')
  const one = await (await brtcCall(emu, token, 'GET', `${ENDPOINTS}?limit=1000`)).json() as Listed
  t.equal(one.page.pageSize, 1000)
})

t.test('list filters: status and type; other accounts apart; tag is not a filter', async (t) => {
  const { emu, token } = await setup(t, { brtc: { accountId: ['9900000', '5500123'] } })
  const a = await create(emu, token, { ...WEBRTC_ENDPOINT, tag: 'a' })
  const b = await create(emu, token, { ...WEBRTC_ENDPOINT, tag: 'b' })
  const other = await brtcCall(emu, token, 'POST', '/accounts/5500123/endpoints', { body: WEBRTC_ENDPOINT })
  t.equal(other.status, 201)
  const otherId = ((await other.json()) as { data: { endpointId: string } }).data.endpointId
  emu.setBrtcEndpointStatus(b.endpointId as string, 'CONNECTED')

  const ids = async (query: string, account = '9900000'): Promise<unknown[]> =>
    ((await (await brtcCall(emu, token, 'GET', `/accounts/${account}/endpoints${query}`)).json()) as Listed).data.map((e) => e.endpointId)
  t.same(await ids('?status=CONNECTED'), [b.endpointId])
  t.same(await ids('?status=DISCONNECTED'), [a.endpointId])
  t.same(await ids('?type=WEBRTC&status=CONNECTED'), [b.endpointId])
  t.same(await ids('?tag=a'), [a.endpointId, b.endpointId], 'unknown parameters are ignored: no filtering by tag')
  t.same(await ids('', '5500123'), [otherId])
  t.equal((await brtcCall(emu, token, 'GET', `${ENDPOINTS}/${otherId}`)).status, 404, 'an endpoint of another account is not found')
  t.equal((await brtcCall(emu, token, 'DELETE', `${ENDPOINTS}/${otherId}`)).status, 404)
  t.same(emu.brtcEndpoints('5500123').map((e) => e.endpointId), [otherId])
  t.equal(emu.brtcEndpoints().length, 3)
  const page = ((await (await brtcCall(emu, token, 'GET', `${ENDPOINTS}?status=CONNECTED&limit=1`)).json()) as Listed).page
  t.same(page, { pageSize: 1, totalElements: 1, totalPages: 1, pageNumber: 0 })
})

t.test('setBrtcEndpointStatus: a connected device shows in get; disconnect keeps it', async (t) => {
  const { emu, token } = await setup(t)
  const { endpointId } = await create(emu, token) as { endpointId: string }
  emu.setBrtcEndpointStatus(endpointId, 'CONNECTED')
  const get = async (): Promise<Record<string, unknown>> =>
    ((await (await brtcCall(emu, token, 'GET', `${ENDPOINTS}/${endpointId}`)).json()) as { data: Record<string, unknown> }).data
  const connected = await get()
  t.equal(connected.status, 'CONNECTED')
  t.match(connected.devices, [{ deviceId: DEVICE_ID, status: 'CONNECTED', creationTimestamp: String }])
  emu.setBrtcEndpointStatus(endpointId, 'DISCONNECTED')
  const disconnected = await get()
  t.equal(disconnected.status, 'DISCONNECTED')
  t.match(disconnected.devices, [{ status: 'DISCONNECTED' }])
  t.throws(() => emu.setBrtcEndpointStatus('e-nope', 'CONNECTED'), TypeError)
  t.throws(() => emu.setBrtcEndpointStatus(endpointId, 'ONLINE' as 'CONNECTED'), TypeError)
})

t.test('endpoint lifetime: settable in code and over HTTP; expired endpoints are kept', async (t) => {
  const { emu, token } = await setup(t)
  emu.setEndpointLifetime(0)
  const expired = await create(emu, token)
  t.equal(expired.expirationTimestamp, expired.creationTimestamp, 'expires as it is created')
  emu.setEndpointLifetime(-60)
  const past = await create(emu, token)
  t.equal(Date.parse(past.expirationTimestamp as string) - Date.parse(past.creationTimestamp as string), -60_000)
  const res = await postControl(emu, 'endpoint-lifetime', { seconds: 5 })
  t.equal(res.status, 200)
  t.same(await res.json(), { ok: true })
  const short = await create(emu, token)
  t.equal(Date.parse(short.expirationTimestamp as string) - Date.parse(short.creationTimestamp as string), 5_000)
  t.equal(emu.stats().brtc.endpointLifetime, 5)
  t.equal((await brtcCall(emu, token, 'GET', `${ENDPOINTS}/${expired.endpointId as string}`)).status, 200, 'an expired endpoint is still there')
  t.equal(((await (await brtcCall(emu, token, 'GET', ENDPOINTS)).json()) as Listed).data.length, 3)
  const bad = await postControl(emu, 'endpoint-lifetime', { seconds: '5' })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { error: 'bad_request', message: /seconds/ })
  t.throws(() => emu.setEndpointLifetime(Number.POSITIVE_INFINITY), TypeError)
  t.equal(emu.stats().brtc.endpointLifetime, 5, 'a refused value changes nothing')
  const fresh = await startEmulator(t, { brtc: { endpointLifetime: 90 } })
  t.equal(fresh.stats().brtc.endpointLifetime, 90)
  emu.reset()
  t.equal(emu.stats().brtc.endpointLifetime, 86_400, 'reset restores the configured lifetime')
})

t.test('routing: unknown paths and wrong methods, in the error shape', async (t) => {
  const { emu, token } = await setup(t)
  const cases: Array<[string, string, number, string | null]> = [
    ['GET', '', 404, null],
    ['GET', '/accounts/9900000', 404, null],
    ['GET', '/accounts/9900000/endpoints/', 404, null],
    ['GET', '/accounts/9900000/endpoints/e-1/bxml', 404, null],
    ['PUT', '/accounts/9900000/endpoints', 405, 'GET, POST'],
    ['DELETE', '/accounts/9900000/endpoints', 405, 'GET, POST'],
    ['POST', '/accounts/9900000/endpoints/e-1', 405, 'GET, DELETE'],
    ['PATCH', '/accounts/9900000/endpoints/e-1', 405, 'GET, DELETE']
  ]
  for (const [method, path, status, allow] of cases) {
    const res = await brtcCall(emu, token, method, path)
    t.equal(res.status, status, `${method} ${path}`)
    t.equal(res.headers.get('allow'), allow, `${method} ${path} Allow`)
    const problem = status === 404
      ? { type: 'resource_not_found', description: 'The requested resource was not found.' }
      : { type: 'method_not_allowed', description: 'The requested method is not allowed on this resource.' }
    t.match(await res.json(), { links: [], data: null, errors: [{ code: String(status), ...problem }] }, 'the spec\'s example wording')
  }
  t.match(emu.brtcRequests(), cases.map(([method]) => ({ method, operation: undefined })))
  t.equal(emu.stats().brtc.requests, cases.length)
  t.same(emu.stats().brtc.operations, { create: 0, list: 0, get: 0, delete: 0 })
  const outside = await fetch(`${emu.url}/v3/accounts/9900000/endpoints`)
  t.equal(outside.status, 404)
  t.same(await outside.json(), { error: 'not_found' }, 'outside the base path: the plain 404')
  t.equal(emu.stats().brtc.requests, cases.length)
})

t.test('options: base path, accounts, checked at creation', async (t) => {
  const { emu, token } = await setup(t, { brtc: { basePath: '/brtc/v2', accountId: '42' } })
  t.equal(emu.brtcApiUrl, `${emu.url}/brtc/v2`)
  const res = await brtcCall(emu, token, 'POST', '/accounts/42/endpoints', { body: WEBRTC_ENDPOINT })
  t.equal(res.status, 201)
  const { links } = await res.json() as { links: Link[] }
  t.match(links[0]?.href, `${emu.url}/brtc/v2/accounts/42/endpoints/e-`)
  t.equal((await fetch(`${emu.url}/v2${ENDPOINTS}`, { headers: { authorization: `Bearer ${token}` } })).status, 404)
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS)).status, 403, 'the default account is not configured')

  const root = await startEmulator(t, { brtc: { basePath: '' } })
  t.equal(root.brtcApiUrl, root.url)
  t.equal((await brtcCall(root, await bandwidthToken(root), 'GET', ENDPOINTS)).status, 200)
  t.equal((await fetch(`${root.url}/__emulator/stats`)).status, 200, 'control routes still win')

  const def = await startEmulator(t)
  t.equal(def.brtcApiUrl, `${def.url}/v2`)
  for (const brtc of [{ basePath: 'v2' }, { basePath: '/v2/' }, { basePath: '/__emulator/v2' }, { basePath: '/a b' },
    { accountId: 'acct' }, { accountId: ['1', ''] }, { endpointLifetime: Number.NaN }]) {
    t.throws(() => createUpstreamEmulator({ brtc }), TypeError, JSON.stringify(brtc))
  }
  t.throws(() => createUpstreamEmulator().brtcApiUrl, /not listening/)
})

t.test('links use the Host the client called (a container name behind compose), else the emulator URL', async (t) => {
  const { emu, token } = await setup(t)
  const { port } = new URL(emu.url)
  const createWithHost = async (host: string): Promise<string> => new Promise((resolve, reject) => {
    const headers = { host, authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/v2${ENDPOINTS}`, headers }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => { text += chunk.toString() })
      res.on('end', () => resolve(((JSON.parse(text)) as { links: Link[] }).links[0]?.href as string))
    })
    req.on('error', reject)
    req.end(JSON.stringify(WEBRTC_ENDPOINT))
  })
  t.match(await createWithHost('emulator:8081'), /^http:\/\/emulator:8081\/v2\/accounts\/9900000\/endpoints\/e-/)
  t.match(await createWithHost('[::1]:9'), /^http:\/\/\[::1\]:9\/v2\//)
  t.match(await createWithHost('bad/host'), `${emu.url}/v2${ENDPOINTS}/e-`)
})
