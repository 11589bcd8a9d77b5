// Faults on the 'brtc' target as a client sees them on the wire (status faults in the
// brtcErrorResponse shape with Retry-After, which a 429 carries by default, per-operation
// faults, hang, drop, non-error bodies), programmed in code and over HTTP; the BRTC request log
// (never a token) and reset().
import t from 'tap'
import type { Fault } from '../../emulator/upstream-emulator.js'
import { bandwidthToken, brtcCall, postControl, requestToken, startEmulator, WEBRTC_ENDPOINT } from '../helpers/emulator.js'
import { eventually } from '../helpers/eventually.js'
import { settlesNow } from '../helpers/fake-clock.js'

const ENDPOINTS = '/accounts/9900000/endpoints'

t.test('status faults: the status, Retry-After, a brtcErrorResponse by default, whatever the credentials', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const cases: Array<[number, string | undefined, string, Record<string, string>]> = [
    [429, '3', 'too_many_endpoints', {}],
    [401, undefined, 'unauthorized', { header: 'Authorization' }],
    [403, undefined, 'forbidden', { header: 'Authorization' }], // a token without the BRTC role
    [500, undefined, 'service_unavailable', {}],
    [503, '7', 'service_unavailable', {}],
    [409, undefined, 'error', {}]
  ]
  for (const [status, retryAfter, type, source] of cases) {
    emu.setFault('brtc', retryAfter === undefined ? { kind: 'status', status } : { kind: 'status', status, retryAfter })
    const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
    t.equal(res.status, status)
    t.equal(res.headers.get('retry-after'), retryAfter ?? null, `${status} Retry-After`)
    t.equal(res.headers.get('www-authenticate'), status === 401 ? 'Bearer realm="BRTC Endpoints API (emulated)"' : null, `${status} challenge`)
    const body = await res.json() as Record<string, unknown>
    t.same(Object.keys(body), ['links', 'data', 'errors'])
    t.match(body, { links: [], data: null, errors: [{ id: String, type, description: String, code: String(status), source }] }, String(status))
  }
  t.same(emu.brtcEndpoints(), [], 'a fault answer creates nothing')
  t.match(emu.brtcRequests().at(-1), { fault: 'status', outcome: 409, operation: 'create' })
  t.equal((await requestToken(emu, 'bandwidth')).status, 200, 'the token endpoints are not affected')
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS, { authorization: null })).status, 409, 'the fault answers first, even without credentials')
  emu.setFault('brtc', null)
  t.equal((await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })).status, 201, 'healed')
})

t.test('a 429 carries Retry-After even when the fault sets none (the spec requires it); null leaves it out', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const retryAfterOf = async (fault: Fault): Promise<string | null> => {
    emu.setFault('brtc', fault)
    const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
    t.equal(res.status, 429, JSON.stringify(fault))
    await res.arrayBuffer()
    return res.headers.get('retry-after')
  }
  t.equal(await retryAfterOf({ kind: 'status', status: 429 }), '1', 'a default of one second')
  t.equal(await retryAfterOf({ kind: 'status', status: 429, body: '{}' }), '1', 'with a custom body too')
  t.equal(await retryAfterOf({ kind: 'status', status: 429, operation: 'create' }), '1', 'on one operation too')
  t.equal(await retryAfterOf({ kind: 'status', status: 429, retryAfter: '30' }), '30', 'the fault\'s own value wins')
  t.equal(await retryAfterOf({ kind: 'status', status: 429, retryAfter: null }), null, 'null: no Retry-After at all')
  t.equal(await retryAfterOf({ kind: 'status', status: 429, retryAfter: null, body: '{}' }), null, 'null, with a custom body')
  t.same(emu.stats().brtc.fault, { kind: 'status', status: 429, retryAfter: null, body: '{}' })

  const set = await postControl(emu, 'fault', { tenant: 'brtc', fault: { kind: 'status', status: 429, retryAfter: null } })
  t.equal(set.status, 200, 'null is accepted over HTTP')
  const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
  t.equal(res.status, 429)
  t.equal(res.headers.get('retry-after'), null, 'and leaves it out')
  await res.arrayBuffer()

  emu.setFault('brtc', { kind: 'status', status: 503 })
  const other = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
  t.equal(other.headers.get('retry-after'), null, 'no default on other statuses')
  await other.arrayBuffer()
  emu.setFault('bandwidth', { kind: 'status', status: 429 })
  const tokenLimited = await requestToken(emu, 'bandwidth')
  t.equal(tokenLimited.status, 429)
  t.equal(tokenLimited.headers.get('retry-after'), null, 'nor on a token endpoint\'s 429')
  await tokenLimited.arrayBuffer()
})

t.test('a fault on a tenant leaves the BRTC API alone, and the reverse', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  emu.setFault('bandwidth', { kind: 'status', status: 503 })
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS)).status, 200)
  emu.setFault('bandwidth', null)
  emu.setFault('brtc', { kind: 'status', status: 503 })
  t.equal((await requestToken(emu, 'bandwidth')).status, 200)
  t.same(emu.stats().faults, { bandwidth: null, global: null })
  t.same(emu.stats().brtc.fault, { kind: 'status', status: 503 })
})

t.test('status faults with a custom body, and the 200 kinds', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  emu.setFault('brtc', { kind: 'status', status: 502, body: '<h1>Bad gateway</h1>', contentType: 'text/html' })
  let res = await brtcCall(emu, token, 'GET', ENDPOINTS)
  t.equal(res.status, 502)
  t.equal(res.headers.get('content-type'), 'text/html')
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(res.headers.get('pragma'), 'no-cache', 'the no-cache headers of the API\'s own JSON replies')
  t.equal(await res.text(), '<h1>Bad gateway</h1>')
  emu.setFault('brtc', { kind: 'html' })
  res = await brtcCall(emu, token, 'GET', ENDPOINTS)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/html/)
  emu.setFault('brtc', { kind: 'garbage' })
  await t.rejects((await brtcCall(emu, token, 'GET', ENDPOINTS)).json(), SyntaxError)
  emu.setFault('brtc', { kind: 'json', body: { links: [], data: [{ endpointId: 7 }] } })
  res = await brtcCall(emu, token, 'GET', ENDPOINTS)
  t.equal(res.status, 200)
  t.same(await res.json(), { links: [], data: [{ endpointId: 7 }] })
})

t.test('a fault on one operation: the others answer normally', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const { endpointId } = ((await (await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })).json()) as { data: { endpointId: string } }).data
  const set = await postControl(emu, 'fault', { tenant: 'brtc', fault: { kind: 'status', status: 429, retryAfter: '3', operation: 'create' } })
  t.equal(set.status, 200)
  t.same(emu.stats().brtc.fault, { kind: 'status', status: 429, retryAfter: '3', operation: 'create' })
  const limited = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
  t.equal(limited.status, 429)
  t.equal(limited.headers.get('retry-after'), '3')
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS)).status, 200, 'list')
  t.equal((await brtcCall(emu, token, 'GET', `${ENDPOINTS}/${endpointId}`)).status, 200, 'get')
  t.equal((await brtcCall(emu, token, 'GET', '/elsewhere')).status, 404, 'an unknown path is no create')

  const faults: Array<[Fault, string, string, number]> = [
    [{ kind: 'status', status: 500, operation: 'list' }, 'GET', ENDPOINTS, 500],
    [{ kind: 'status', status: 403, operation: 'get' }, 'GET', `${ENDPOINTS}/${endpointId}`, 403],
    [{ kind: 'status', status: 401, operation: 'delete' }, 'DELETE', `${ENDPOINTS}/${endpointId}`, 401]
  ]
  for (const [fault, method, path, status] of faults) {
    emu.setFault('brtc', fault)
    t.equal((await brtcCall(emu, token, method, path)).status, status, `${fault.operation as string} faulted`)
    t.equal((await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })).status, 201, `create while ${fault.operation as string} is faulted`)
  }
  t.equal(emu.brtcEndpoints().length, 4)
})

t.test('fault descriptions: operation is checked, and only for brtc', async (t) => {
  const emu = await startEmulator(t)
  for (const fault of [{ kind: 'status', status: 429, operation: 'update' }, { kind: 'hang', operation: 7 }]) {
    t.throws(() => emu.setFault('brtc', fault as Fault), TypeError, JSON.stringify(fault))
  }
  t.throws(() => emu.setFault('bandwidth', { kind: 'status', status: 429, operation: 'create' }), /brtc target only/)
  t.throws(() => emu.setFault('other' as 'brtc', null), /target must be one of bandwidth, global, brtc/)
  const cases: Array<[string, unknown, RegExp]> = [
    ['fault', { tenant: 'brtc', fault: { kind: 'status', status: 429, operation: 'patch' } }, /fault.operation/],
    ['fault', { tenant: 'global', fault: { kind: 'drop', operation: 'create' } }, /brtc target only/],
    ['fault', { tenant: 'nobody', fault: null }, /bandwidth, global, brtc/],
    ['expires-in', { tenant: 'brtc', seconds: 5 }, /tenant must be one of bandwidth, global$/]
  ]
  for (const [route, body, message] of cases) {
    const res = await postControl(emu, route, body)
    t.equal(res.status, 400, JSON.stringify(body))
    t.match(await res.json(), { error: 'bad_request', message })
  }
  t.same(emu.stats().faults, { bandwidth: null, global: null })
  t.equal(emu.stats().brtc.fault, null)
})

t.test('hang: the request stays pending until setFault on brtc, reset or close ends it', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  emu.setFault('brtc', { kind: 'hang' })

  const first = brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
  await eventually(() => emu.brtcRequests().length === 1, 'the create reached the emulator')
  t.match(emu.brtcRequests()[0], { fault: 'hang', outcome: 'hang', operation: 'create' })
  emu.setFault('bandwidth', null) // another target: must not end it
  t.equal((await requestToken(emu, 'bandwidth')).status, 200, 'a full round trip meanwhile')
  t.equal(await settlesNow(first), false, 'still pending')
  emu.setFault('brtc', null)
  await t.rejects(first, TypeError, 'setFault on brtc destroys it')
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS)).status, 200, 'the API answers again')

  emu.setFault('brtc', { kind: 'hang', operation: 'list' })
  const second = brtcCall(emu, token, 'GET', ENDPOINTS)
  await eventually(() => emu.brtcRequests().length === 3, 'the list reached the emulator')
  t.equal((await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })).status, 201, 'create is not hung')
  emu.reset()
  await t.rejects(second, TypeError, 'reset destroys it')

  const other = await startEmulator(t)
  const otherToken = await bandwidthToken(other)
  other.setFault('brtc', { kind: 'hang' })
  const third = brtcCall(other, otherToken, 'GET', ENDPOINTS)
  await eventually(() => other.brtcRequests().length === 1, 'the list reached the other emulator')
  await other.close()
  await t.rejects(third, TypeError, 'close destroys it')
})

t.test('drop: the connection is reset without a response', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  await postControl(emu, 'fault', { tenant: 'brtc', fault: { kind: 'drop' } })
  await t.rejects(brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT }), TypeError)
  t.match(emu.brtcRequests().at(-1), { fault: 'drop', outcome: 'drop' })
  t.same(emu.brtcEndpoints(), [])
  await postControl(emu, 'fault', { tenant: 'brtc', fault: null })
  t.equal((await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })).status, 201, 'the next connection works')
})

t.test('request log and stats: what was asked, never a bearer or endpoint token', async (t) => {
  const emu = await startEmulator(t, { logLimit: 50 })
  const token = await bandwidthToken(emu)
  const created = await (await brtcCall(emu, token, 'POST', ENDPOINTS, { body: { ...WEBRTC_ENDPOINT, tag: 'x' } })).json() as { data: { endpointId: string, token: string } }
  const { endpointId, token: endpointToken } = created.data
  await brtcCall(emu, token, 'GET', `${ENDPOINTS}?limit=1&status=DISCONNECTED&access_token=${token}&endpointToken=${endpointToken}`)
  await brtcCall(emu, token, 'GET', `${ENDPOINTS}/${endpointId}`)
  await brtcCall(emu, token, 'DELETE', `${ENDPOINTS}/${endpointId}`)
  await brtcCall(emu, token, 'GET', ENDPOINTS, { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` })
  await brtcCall(emu, token, 'GET', ENDPOINTS, { authorization: `Token ${endpointToken}` })

  const log = emu.brtcRequests()
  t.match(log, [
    { seq: 1, operation: 'create', method: 'POST', path: `/v2${ENDPOINTS}`, accountId: '9900000', endpointId, contentType: 'application/json', authScheme: 'Bearer', bodyFields: ['type', 'direction', 'tag'], outcome: 201, error: undefined, fault: undefined },
    {
      seq: 2,
      operation: 'list',
      query: [['limit', '1'], ['status', 'DISCONNECTED'], ['access_token', '[redacted]'], ['endpointToken', '[redacted]']],
      bodyFields: undefined,
      outcome: 200
    },
    { seq: 3, operation: 'get', endpointId, outcome: 200 },
    { seq: 4, operation: 'delete', endpointId, outcome: 204, bodyBytes: 0 },
    { seq: 5, authScheme: 'Basic', outcome: 401, error: 'unauthorized' },
    { seq: 6, authScheme: '[unrecognised]', outcome: 401 }
  ])
  t.ok(log[0]?.headerNames.includes('authorization'))
  t.match(log[0]?.at, /^\d{4}-\d\d-\d\dT/)
  const stats = await (await fetch(`${emu.url}/__emulator/stats`)).text()
  const text = JSON.stringify(log) + JSON.stringify(emu.stats()) + stats + JSON.stringify(emu.requestLog())
  for (const secret of [token, endpointToken, token.split('.')[2] as string, endpointToken.split('.')[2] as string]) t.notMatch(text, secret)
  t.match(JSON.parse(stats), { brtc: { requests: 6, operations: { create: 1, list: 3, get: 1, delete: 1 }, created: 1, endpoints: 0 } })
  t.equal(emu.requestLog().length, 1, 'BRTC requests are not in the token request log')
  const copy = emu.brtcRequests()
  copy[0]!.method = 'PUT'
  t.equal(emu.brtcRequests()[0]?.method, 'POST', 'callers get copies')

  const small = await startEmulator(t, { logLimit: 2 })
  const smallToken = await bandwidthToken(small)
  for (let i = 0; i < 3; i++) await brtcCall(small, smallToken, 'GET', ENDPOINTS)
  t.same(small.brtcRequests().map((e) => e.seq), [2, 3], 'the last logLimit entries are kept')
  t.equal(small.stats().brtc.requests, 3, 'the counter is not bounded')
})

t.test('reset(): endpoints, log, counters, fault and lifetime back to the start', async (t) => {
  const emu = await startEmulator(t)
  let token = await bandwidthToken(emu)
  await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
  emu.setEndpointLifetime(5)
  emu.setFault('brtc', { kind: 'status', status: 500, operation: 'get' })
  t.equal(emu.brtcEndpoints().length, 1)
  t.equal((await postControl(emu, 'reset', {})).status, 200)
  t.same(emu.brtcEndpoints(), [])
  t.same(emu.brtcRequests(), [])
  t.same(emu.stats().brtc, { requests: 0, operations: { create: 0, list: 0, get: 0, delete: 0 }, created: 0, endpoints: 0, fault: null, endpointLifetime: 86_400 })
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS)).status, 401, 'issued tokens are forgotten too')
  token = await bandwidthToken(emu)
  const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: WEBRTC_ENDPOINT })
  t.equal(res.status, 201)
  t.equal(emu.brtcRequests()[0]?.seq, 1)
  const list = await (await brtcCall(emu, token, 'GET', ENDPOINTS)).json() as { data: unknown[] }
  t.equal(list.data.length, 1)
})
