// The /endpoints/webrtc routes through inject, with the provider emulator over real HTTP: every
// status of the contract with its headers and error shape; what the provider receives (the
// documented JSON, the account token as Bearer, the caller's tag); the cap; ownership (someone
// else's endpoint and an unknown one are the same 404); strict endpoint ids; the per-identity
// rate limit; every fault switch of the emulator (429 with Retry-After, 401, 403, 500, a hang
// cut by UPSTREAM_TIMEOUT_MS on the fake clock, a dropped connection) on each operation; the
// request metrics; the OpenAPI document; and the routes' absence when the mode is off.
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import type { Fault } from '../../emulator/upstream-emulator.js'
import { GLOBAL_SECRET, build } from '../helpers/build.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { eventually } from '../helpers/eventually.js'
import { parsedLogs, sample } from '../helpers/output.js'
import { KEY, OTHER, ROUTE, createDirectly, deleteDirectly, rig, startBrtcEmulator } from '../helpers/brtc-rig.js'

function assertError (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  t.equal(res.statusCode, status, `status ${status}`)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(body.statusCode, status)
  t.equal(body.code, code)
  t.equal(res.headers['cache-control'], 'no-store', 'never cached, errors included')
  t.equal(res.headers.pragma, 'no-cache')
}

t.test('off unless BRTC_ACCOUNT_ID is set: the routes do not exist', async (t) => {
  const { app } = await build(t)
  t.equal(app.brtc, null)
  for (const [method, url] of [['POST', ROUTE], ['GET', ROUTE], ['DELETE', `${ROUTE}/e-0123abcd-00`]] as const) {
    const res = await app.inject({ method, url, headers: KEY })
    t.equal(res.statusCode, 404, `${method} ${url}`)
    t.equal(res.json().code, 'NOT_FOUND')
  }
  const doc = (await app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>()
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/endpoints')), 'nor are they documented')
  t.notMatch((await app.inject({ url: '/metrics' })).body, /brtc_/, 'nor counted')
})

t.test('in the mode, /token/webrtc never hands out the account-wide bandwidth token', async (t) => {
  const emulator = await startBrtcEmulator(t, { tenants: { global: { clientId: 'gl-client', clientSecret: GLOBAL_SECRET } } })
  // Only bandwidth enabled (the rig's default): /token/webrtc has nothing to hand out.
  const only = await rig(t, { emulator })
  t.equal((await only.app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 201, 'the account token is held')
  const held = emulator.issuedTokens('bandwidth')
  t.equal(held.length, 1)
  for (const url of ['/token/webrtc', '/token/webrtc?upstream=bandwidth']) {
    const res = await only.app.inject({ url, headers: KEY })
    assertError(t, res, 400, 'UNKNOWN_UPSTREAM')
    t.match(res.json().message, 'POST /endpoints/webrtc', `${url}: says where tokens come from`)
    t.notMatch(res.body, held[0]?.accessToken as string, `${url}: not the account token`)
  }
  // With global too: global is served, bandwidth still is not.
  const both = await rig(t, {
    emulator,
    env: { GLOBAL_WEBRTC_CLIENT_ID: 'gl-client', GLOBAL_WEBRTC_CLIENT_SECRET: GLOBAL_SECRET, GLOBAL_WEBRTC_TOKEN_URL: emulator.tokenUrl('global'), DEFAULT_UPSTREAM: 'global' }
  })
  const global = await both.app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(global.statusCode, 200)
  t.equal(global.json().upstream, 'global')
  const refused = await both.app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: KEY })
  assertError(t, refused, 400, 'UNKNOWN_UPSTREAM')
  t.equal(refused.json().message, 'Unknown or disabled upstream; enabled upstreams: global')
  t.equal((await both.app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 201, 'endpoint tokens still work')
  for (const { accessToken } of emulator.issuedTokens('bandwidth')) {
    t.notMatch(global.body + refused.body, accessToken, 'no reply carries an account token')
  }
})

t.test('POST 201: the endpoint and its token; the provider got the documented request with the account token', async (t) => {
  const { app, emulator, logs } = await rig(t, { env: { BRTC_EVENT_CALLBACK_URL: 'https://app.example.com/brtc-events' } })
  const before = Date.now()
  const res = await app.inject({ method: 'POST', url: ROUTE, headers: KEY })
  const after = Date.now()
  t.equal(res.statusCode, 201)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.pragma, 'no-cache')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['endpoint_id', 'expires_at', 'expires_in', 'token'])
  const [stored] = emulator.brtcEndpoints()
  t.equal(body.endpoint_id, stored?.endpointId)
  t.equal(body.token, stored?.token, 'the endpoint\'s own token')
  t.equal(body.expires_at, stored?.expirationTimestamp, 'expires_at is the provider\'s expirationTimestamp')
  // Counted from the instant of the reply, which lies between before and after, however long that took.
  const expiresAtMs = Date.parse(body.expires_at)
  t.ok(body.expires_in <= Math.floor((expiresAtMs - before) / 1000) && body.expires_in >= Math.floor((expiresAtMs - after) / 1000),
    `expires_in ${body.expires_in as number} counts to it`)
  t.match(stored, { type: 'WEBRTC', direction: 'BIDIRECTIONAL', eventCallbackUrl: 'https://app.example.com/brtc-events' })
  t.match(stored?.tag, /^wts1\.[A-Za-z0-9_-]{43}$/)
  const created = emulator.brtcRequests().find((r) => r.operation === 'create')
  t.match(created, { method: 'POST', authScheme: 'Bearer', contentType: 'application/json', outcome: 201 })
  t.same(created?.bodyFields, ['type', 'direction', 'tag', 'eventCallbackUrl'])
  t.equal(emulator.issuedTokens('bandwidth').length, 1, 'authorised by the bandwidth upstream\'s cached token')

  const audit = parsedLogs(logs).find((l) => l.msg === 'request completed' && l.status === 201)
  t.match(audit, { endpointId: body.endpoint_id, expiresAt: body.expires_at, tokenSha256: /^[0-9a-f]{16}$/ })
  t.notMatch(logs.join('\n'), body.token, 'the token is not logged')

  t.equal((await app.inject({ method: 'POST', url: ROUTE, headers: { ...KEY, 'content-type': 'application/json' }, payload: '{}' })).statusCode, 201, '{} is fine')
  assertError(t, await app.inject({ method: 'POST', url: ROUTE, headers: { ...KEY, 'content-type': 'application/json' }, payload: '{"tag":"mine"}' }), 400, 'BAD_REQUEST')
  assertError(t, await app.inject({ method: 'POST', url: `${ROUTE}?tag=x`, headers: KEY }), 400, 'BAD_REQUEST')
  t.equal(emulator.brtcEndpoints().length, 2, 'the refused ones reached no provider')
})

t.test('a create or delete takes no body but {}: 400 for another, 413 over 4 KiB, 415 not JSON, in the usual shape', async (t) => {
  const { app, emulator } = await rig(t)
  const created = (await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).json<{ endpoint_id: string }>()
  const json = { ...KEY, 'content-type': 'application/json' }
  for (const [method, url] of [['POST', ROUTE], ['DELETE', `${ROUTE}/${created.endpoint_id}`]] as const) {
    assertError(t, await app.inject({ method, url, headers: json, payload: '{"tag":"mine"}' }), 400, 'BAD_REQUEST')
    assertError(t, await app.inject({ method, url, headers: json, payload: '[]' }), 400, 'BAD_REQUEST')
    assertError(t, await app.inject({ method, url, headers: json, payload: `{"pad":"${'x'.repeat(5000)}"}` }), 413, 'BAD_REQUEST')
    assertError(t, await app.inject({ method, url, headers: { ...KEY, 'content-type': 'application/xml' }, payload: '<a/>' }), 415, 'BAD_REQUEST')
    assertError(t, await app.inject({ method, url, headers: { ...KEY, 'content-type': 'text/plain' }, payload: '{}' }), 415, 'BAD_REQUEST')
  }
  t.equal(emulator.brtcEndpoints().length, 1, 'no refused create reached the provider')
  t.equal(emulator.brtcRequests().filter((r) => r.operation === 'delete').length, 0, 'nor a refused delete')
  t.equal((await app.inject({ method: 'POST', url: ROUTE, headers: json })).statusCode, 201, 'a JSON content type without a body is no body')
  assertError(t, await app.inject({ method: 'POST', url: ROUTE, headers: json, payload: '{"a":' }), 400, 'BAD_REQUEST')
  assertError(t, await app.inject({ method: 'POST', url: ROUTE, headers: json, payload: '{"__proto__":{"x":1}}' }), 400, 'BAD_REQUEST')
  t.equal((await app.inject({ method: 'DELETE', url: `${ROUTE}/${created.endpoint_id}`, headers: json, payload: '{}' })).statusCode, 204, '{} is fine')
})

t.test('401 without or with bad credentials, before anything else', async (t) => {
  const { app, emulator } = await rig(t)
  for (const headers of [{}, { 'x-api-key': 'x'.repeat(40) }]) {
    for (const [method, url] of [['POST', ROUTE], ['GET', ROUTE], ['DELETE', `${ROUTE}/e-0123abcd-00`], ['DELETE', `${ROUTE}/not-an-id`]] as const) {
      const res = await app.inject({ method, url, headers })
      assertError(t, res, 401, 'UNAUTHORIZED')
      t.equal(res.headers['www-authenticate'], 'Bearer')
    }
  }
  t.equal(emulator.stats().brtc.requests, 0)
})

t.test('409 ENDPOINT_LIMIT at the cap; a delete frees a slot; other callers have their own cap', async (t) => {
  const { app, emulator } = await rig(t, { env: { BRTC_MAX_ENDPOINTS_PER_CALLER: '2' } })
  const post = async (headers = KEY): Promise<LightMyRequestResponse> => await app.inject({ method: 'POST', url: ROUTE, headers })
  const first = await post()
  t.equal((await post()).statusCode, 201)
  const refused = await post()
  assertError(t, refused, 409, 'ENDPOINT_LIMIT')
  t.match(refused.json().message, /2 live endpoints/)
  t.equal(emulator.stats().brtc.operations.create, 2, 'the provider was not asked for the third')
  t.equal((await post(OTHER)).statusCode, 201, 'another caller')
  t.equal((await app.inject({ method: 'DELETE', url: `${ROUTE}/${first.json().endpoint_id as string}`, headers: KEY })).statusCode, 204)
  t.equal((await post()).statusCode, 201, 'the deleted one\'s slot is free')
})

t.test('GET lists the caller\'s own live endpoints only', async (t) => {
  const { app, emulator } = await rig(t)
  const mine = [await app.inject({ method: 'POST', url: ROUTE, headers: KEY }), await app.inject({ method: 'POST', url: ROUTE, headers: KEY })].map((r) => r.json())
  const theirs = (await app.inject({ method: 'POST', url: ROUTE, headers: OTHER })).json()
  // Something else on the account (no tag, another tag): never listed.
  await createDirectly(emulator)
  await createDirectly(emulator, { tag: 'room-7' })
  // One of the caller's that has expired: not live, so not listed.
  emulator.setEndpointLifetime(-10)
  t.equal((await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 503, 'born expired')
  emulator.setEndpointLifetime(86_400)
  t.equal(emulator.brtcEndpoints().length, 6)
  const res = await app.inject({ url: ROUTE, headers: KEY })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const listed = res.json().endpoints as Array<Record<string, unknown>>
  t.same(listed.map((e) => e.endpoint_id).sort(), mine.map((e) => e.endpoint_id).sort())
  t.same(Object.keys(listed[0] ?? {}).sort(), ['endpoint_id', 'expires_at', 'status'], 'never the token')
  t.equal(listed[0]?.status, 'DISCONNECTED')
  emulator.setBrtcEndpointStatus(mine[0].endpoint_id, 'CONNECTED')
  const again = (await app.inject({ url: ROUTE, headers: KEY })).json().endpoints as Array<Record<string, unknown>>
  t.equal(again.find((e) => e.endpoint_id === mine[0].endpoint_id)?.status, 'CONNECTED')
  t.same((await app.inject({ url: ROUTE, headers: OTHER })).json().endpoints.map((e: { endpoint_id: string }) => e.endpoint_id), [theirs.endpoint_id])
  assertError(t, await app.inject({ url: `${ROUTE}?all=1`, headers: KEY }), 400, 'BAD_REQUEST')
  const pages = emulator.brtcRequests().length
  t.equal((await app.inject({ method: 'HEAD', url: ROUTE, headers: KEY })).statusCode, 404)
  t.equal(emulator.brtcRequests().length, pages, 'HEAD is not served: the account is not read for it')
})

t.test('DELETE: 204 for one\'s own; 404 for someone else\'s and for an unknown id, the same reply', async (t) => {
  const { app, emulator, logs } = await rig(t)
  const mine = (await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).json()
  const theirs = (await app.inject({ method: 'POST', url: ROUTE, headers: OTHER })).json()
  const other = await app.inject({ method: 'DELETE', url: `${ROUTE}/${theirs.endpoint_id as string}`, headers: KEY })
  const unknown = await app.inject({ method: 'DELETE', url: `${ROUTE}/e-00000000-00000000-0000-0000-0000-000000000000`, headers: KEY })
  assertError(t, other, 404, 'NOT_FOUND')
  assertError(t, unknown, 404, 'NOT_FOUND')
  t.equal(other.body, unknown.body, 'indistinguishable bodies')
  t.equal(emulator.brtcEndpoints().length, 2, 'nothing was deleted')
  t.notOk(emulator.brtcRequests().some((r) => r.operation === 'delete'), 'not even asked')

  const res = await app.inject({ method: 'DELETE', url: `${ROUTE}/${mine.endpoint_id as string}`, headers: KEY })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(emulator.brtcEndpoints().map((e) => e.endpointId), [theirs.endpoint_id])
  t.match(parsedLogs(logs).find((l) => l.msg === 'request completed' && l.status === 204), { endpointId: mine.endpoint_id, deleted: 'deleted', caller: 'web', authMethod: 'api_key' }, 'on the request\'s own line')

  // Gone behind the service's back (the provider's own cleanup): still the caller's, so 204.
  const later = (await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).json()
  t.equal(await deleteDirectly(emulator, later.endpoint_id), 204)
  t.equal((await app.inject({ method: 'DELETE', url: `${ROUTE}/${later.endpoint_id as string}`, headers: KEY })).statusCode, 204, 'already gone')
})

t.test('endpoint ids are checked strictly before any upstream URL is built', async (t) => {
  const { app, emulator } = await rig(t)
  for (const id of ['not-an-id', 'e-', 'e-0123abc', 'e-XYZ12345', 'e-0123abcd/..', '..%2F..%2Faccounts', 'e-0123abcd%2F..%2Fx', 'e-0123abcd%00', 'E-0123ABCD']) {
    assertError(t, await app.inject({ method: 'DELETE', url: `${ROUTE}/${id}`, headers: KEY }), 400, 'BAD_REQUEST')
  }
  const long = await app.inject({ method: 'DELETE', url: `${ROUTE}/e-${'0'.repeat(101)}`, headers: KEY })
  t.equal(long.statusCode, 400, 'longer than the pattern allows')
  const overlong = `e-${'0'.repeat(140)}`
  const tooLong = await app.inject({ method: 'DELETE', url: `${ROUTE}/${overlong}` })
  t.equal(tooLong.statusCode, 414)
  t.match(tooLong.json(), { statusCode: 414, code: 'BAD_REQUEST', error: 'URI Too Long' })
  t.equal(tooLong.headers['cache-control'], 'no-store')
  t.notOk(tooLong.body.includes(overlong), 'over the router\'s 128 characters: 414 while routing, not echoed')
  t.ok(tooLong.headers['x-request-id'], 'with the headers of every reply')
  t.equal(emulator.stats().brtc.requests, 0, 'none reached the provider')
})

t.test('the per-identity rate limit applies', async (t) => {
  const { app } = await rig(t, { env: { RATE_LIMIT_MAX: '2' } })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await app.inject({ url: ROUTE, headers: KEY })).statusCode)
  t.same(statuses, [200, 200, 429])
  const limited = await app.inject({ method: 'POST', url: ROUTE, headers: KEY })
  assertError(t, limited, 429, 'RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) >= 1)
  t.equal((await app.inject({ url: ROUTE, headers: OTHER })).statusCode, 200, 'counted per caller')
})

t.test('provider faults on create: 429 → 503 with its Retry-After (at most 60), 401/403 → 502, the rest → 503', async (t) => {
  const cases: Array<[Fault, number, string, string | undefined]> = [
    [{ kind: 'status', status: 429, retryAfter: '3600', operation: 'create' }, 503, 'UPSTREAM_UNAVAILABLE', '60'],
    [{ kind: 'status', status: 401, operation: 'create' }, 502, 'UPSTREAM_CREDENTIALS_REJECTED', undefined],
    [{ kind: 'status', status: 403, operation: 'create' }, 502, 'UPSTREAM_CREDENTIALS_REJECTED', undefined],
    [{ kind: 'status', status: 500, operation: 'create' }, 503, 'UPSTREAM_UNAVAILABLE', '1'],
    [{ kind: 'status', status: 503, retryAfter: '5', operation: 'create' }, 503, 'UPSTREAM_UNAVAILABLE', '5'],
    [{ kind: 'html', operation: 'create' }, 503, 'UPSTREAM_UNAVAILABLE', '1'],
    [{ kind: 'garbage', operation: 'create' }, 503, 'UPSTREAM_UNAVAILABLE', '1'],
    [{ kind: 'drop', operation: 'create' }, 503, 'UPSTREAM_UNAVAILABLE', '1']
  ]
  for (const [fault, status, code, retryAfter] of cases) {
    const { app, emulator, logs } = await rig(t, { env: { BRTC_MAX_ENDPOINTS_PER_CALLER: '1' } })
    emulator.setFault('brtc', fault)
    const res = await app.inject({ method: 'POST', url: ROUTE, headers: KEY })
    assertError(t, res, status, code)
    t.equal(res.headers['retry-after'], retryAfter, `${JSON.stringify(fault)}: Retry-After ${String(retryAfter)}`)
    t.equal(emulator.brtcRequests().filter((r) => r.operation === 'create').length, 1, 'one provider request')
    if (status === 502) {
      const errors = parsedLogs(logs).filter((l) => l.level === 50)
      t.equal(errors.length, 1)
      t.match(errors[0]?.msg, /lack the BRTC role/, 'the log says what the credentials lack')
    }
    emulator.setFault('brtc', null)
    if (fault?.kind === 'status' && fault.status === 429) {
      const closed = await app.inject({ method: 'POST', url: ROUTE, headers: KEY })
      t.equal(closed.statusCode, 503, 'the provider said to wait: not asked again meanwhile')
      t.equal(emulator.brtcRequests().filter((r) => r.operation === 'create').length, 1)
      continue
    }
    t.equal((await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 201, 'healed; the failure kept no slot (cap 1)')
  }
})

t.test('a hung provider: 503 once UPSTREAM_TIMEOUT_MS passes on the clock', async (t) => {
  const clock = new FakeClock({ wall: Date.now() })
  const { app, emulator } = await rig(t, { clock, env: { UPSTREAM_TIMEOUT_MS: '4000' } })
  emulator.setFault('brtc', { kind: 'hang', operation: 'create' })
  let answered = false
  const pending = app.inject({ method: 'POST', url: ROUTE, headers: KEY }).finally(() => { answered = true })
  await eventually(() => emulator.brtcRequests().some((r) => r.outcome === 'hang'), 'the create reached the emulator')
  clock.advance(3999)
  await settle()
  t.notOk(answered, 'still waiting just before the timeout')
  clock.advance(1)
  const res = await pending
  assertError(t, res, 503, 'UPSTREAM_UNAVAILABLE')
  t.equal(res.headers['retry-after'], '1')
  emulator.setFault('brtc', null)
  t.equal((await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 201)
})

t.test('faults on list, get and delete', async (t) => {
  const { app, emulator } = await rig(t)
  const mine = (await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).json()
  const del = async (): Promise<LightMyRequestResponse> => await app.inject({ method: 'DELETE', url: `${ROUTE}/${mine.endpoint_id as string}`, headers: KEY })

  emulator.setFault('brtc', { kind: 'status', status: 500, operation: 'list' })
  assertError(t, await app.inject({ url: ROUTE, headers: KEY }), 503, 'UPSTREAM_UNAVAILABLE')
  emulator.setFault('brtc', { kind: 'status', status: 403, operation: 'list' })
  assertError(t, await app.inject({ url: ROUTE, headers: KEY }), 502, 'UPSTREAM_CREDENTIALS_REJECTED')
  emulator.setFault('brtc', { kind: 'status', status: 401, operation: 'get' })
  assertError(t, await del(), 502, 'UPSTREAM_CREDENTIALS_REJECTED')
  emulator.setFault('brtc', { kind: 'drop', operation: 'get' })
  assertError(t, await del(), 503, 'UPSTREAM_UNAVAILABLE')
  emulator.setFault('brtc', { kind: 'status', status: 429, retryAfter: '9', operation: 'delete' })
  const throttled = await del()
  assertError(t, throttled, 503, 'UPSTREAM_UNAVAILABLE')
  t.equal(throttled.headers['retry-after'], '9')
  t.equal(emulator.brtcEndpoints().length, 1, 'still there')
  emulator.setFault('brtc', { kind: 'status', status: 429, retryAfter: '9', operation: 'list' })
  const listThrottled = await app.inject({ url: ROUTE, headers: KEY })
  t.equal(listThrottled.headers['retry-after'], '9')
  emulator.setFault('brtc', null)
  t.equal((await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 201, 'creation was never closed by the other operations\' 429s')
})

t.test('the request metrics count every outcome, each series from the start', async (t) => {
  const { app, emulator } = await rig(t)
  await app.inject({ method: 'POST', url: ROUTE, headers: KEY })
  await app.inject({ method: 'POST', url: ROUTE, headers: {} })
  await app.inject({ method: 'DELETE', url: `${ROUTE}/e-00000000-0000`, headers: KEY })
  await app.inject({ url: ROUTE, headers: KEY })
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.equal(sample(metrics, 'brtc_endpoint_requests_total{operation="create",outcome="success"}'), 1)
  t.equal(sample(metrics, 'brtc_endpoint_requests_total{operation="create",outcome="unauthorized"}'), 1)
  t.equal(sample(metrics, 'brtc_endpoint_requests_total{operation="delete",outcome="not_found"}'), 1)
  t.equal(sample(metrics, 'brtc_endpoint_requests_total{operation="list",outcome="success"}'), 1)
  t.equal(sample(metrics, 'brtc_endpoint_requests_total{operation="create",outcome="limit"}'), 0, 'every series exists from the start')
  t.equal(sample(metrics, 'brtc_sweeps_total{outcome="success"}'), 0)
  t.equal(sample(metrics, 'brtc_sweep_deleted_total'), 0)

  t.equal(emulator.stats().brtc.operations.create, 1)
})

t.test('no account token (the bandwidth token endpoint failing): the token manager\'s own 503, nothing sent to the Endpoints API', async (t) => {
  const emulator = await startBrtcEmulator(t)
  emulator.setFault('bandwidth', { kind: 'status', status: 503, retryAfter: '4' })
  const { app } = await rig(t, { emulator })
  const res = await app.inject({ method: 'POST', url: ROUTE, headers: KEY })
  assertError(t, res, 503, 'UPSTREAM_UNAVAILABLE')
  t.ok(Number(res.headers['retry-after']) >= 1)
  t.equal(emulator.stats().brtc.requests, 0)
  const list = await app.inject({ url: ROUTE, headers: KEY })
  assertError(t, list, 503, 'UPSTREAM_UNAVAILABLE')
})

t.test('the OpenAPI document lists the three routes with a summary and every status', async (t) => {
  const { app } = await rig(t)
  const doc = (await app.inject({ url: '/openapi.json' })).json<{ paths: Record<string, Record<string, { summary?: string, responses: Record<string, unknown>, parameters?: Array<{ name: string, in: string }> }>> }>()
  const op = (path: string, method: string) => doc.paths[path]?.[method]
  t.same(Object.keys(op('/endpoints/webrtc', 'post')?.responses ?? {}).sort(), ['201', '400', '401', '409', '413', '415', '429', '500', '502', '503'])
  t.same(Object.keys(op('/endpoints/webrtc', 'get')?.responses ?? {}).sort(), ['200', '400', '401', '429', '500', '502', '503'])
  t.same(Object.keys(op('/endpoints/webrtc/{endpointId}', 'delete')?.responses ?? {}).sort(), ['204', '400', '401', '404', '413', '414', '415', '429', '500', '502', '503'])
  for (const [path, method] of [['/endpoints/webrtc', 'post'], ['/endpoints/webrtc', 'get'], ['/endpoints/webrtc/{endpointId}', 'delete']] as const) {
    t.match(op(path, method)?.summary, /\w+/, `${method} ${path} has a summary`)
  }
  t.ok(op('/endpoints/webrtc/{endpointId}', 'delete')?.parameters?.some((p) => p.in === 'path' && p.name === 'endpointId'))
})

t.test('a browser on an allowed origin may POST and DELETE (CORS preflight)', async (t) => {
  const origin = 'https://app.example.com'
  const { app } = await rig(t, { env: { CORS_ORIGINS: origin } })
  for (const method of ['POST', 'DELETE']) {
    const res = await app.inject({
      method: 'OPTIONS',
      url: method === 'POST' ? ROUTE : `${ROUTE}/e-0123abcd-00`,
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'x-api-key' }
    })
    t.equal(res.statusCode, 204, method)
    t.equal(res.headers['access-control-allow-origin'], origin)
    t.match(res.headers['access-control-allow-methods'], method)
  }
  const created = await app.inject({ method: 'POST', url: ROUTE, headers: { ...KEY, origin } })
  t.equal(created.headers['access-control-allow-origin'], origin)
})
