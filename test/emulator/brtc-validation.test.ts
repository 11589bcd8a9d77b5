// What the emulated BRTC API refuses in a request, as the provider's OpenAPI description states
// it: the create body (JSON only: 415; each bad field: 400 naming it) and the list query (limit
// 1-1000, enums, an afterCursor it made). Nothing refused is ever stored.
import t from 'tap'
import { bandwidthToken, brtcCall, startEmulator, WEBRTC_ENDPOINT } from '../helpers/emulator.js'

const ENDPOINTS = '/accounts/9900000/endpoints'

interface ErrorBody { links: unknown[], data: null, errors: Array<{ type: string, description: string, code: string, source: Record<string, string> }> }

t.test('create: Content-Type must be application/json (415 otherwise)', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const json = JSON.stringify(WEBRTC_ENDPOINT)
  const refused: Array<[string | null, string | Uint8Array]> = [
    ['text/plain', json],
    [null, new TextEncoder().encode(json)],
    ['application/x-www-form-urlencoded', 'type=WEBRTC&direction=INBOUND'],
    ['application/jsonp', json],
    ['application/merge-patch+json', json],
    ['text/json', json]
  ]
  for (const [contentType, body] of refused) {
    const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { contentType, body: body as unknown })
    t.equal(res.status, 415, String(contentType))
    t.match(await res.json(), { links: [], data: null, errors: [{ type: 'unsupported_media_type', code: '415', source: { header: 'Content-Type' } }] })
  }
  for (const contentType of ['application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8']) {
    t.equal((await brtcCall(emu, token, 'POST', ENDPOINTS, { contentType, body: json })).status, 201, contentType)
  }
  t.equal(emu.brtcEndpoints().length, 3)
  t.equal(emu.stats().brtc.created, 3)
})

t.test('create: the body must be one JSON object', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const bodies: Array<[string | Uint8Array, RegExp]> = [
    ['', /not valid JSON/],
    ['{"type":"WEBRTC",', /not valid JSON/],
    [new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /not valid JSON/],
    ['[]', /JSON object/],
    ['null', /JSON object/],
    ['"WEBRTC"', /JSON object/],
    ['42', /JSON object/],
    [JSON.stringify({ ...WEBRTC_ENDPOINT, connectionMetadata: { pad: 'x'.repeat(20_000) } }), /too large/]
  ]
  for (const [body, description] of bodies) {
    const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: body as unknown })
    t.equal(res.status, 400, description.source)
    t.match(await res.json(), { links: [], data: null, errors: [{ type: 'invalid_request', description, code: '400' }] })
  }
  t.same(emu.brtcEndpoints(), [])
})

t.test('create: each bad field is a 400 naming it', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const { type, direction } = WEBRTC_ENDPOINT
  const cases: Array<[string, Record<string, unknown>]> = [
    ['type', { direction }],
    ['type', { type: 'SIP', direction }],
    ['type', { type: 'webrtc', direction }],
    ['type', { type: null, direction }],
    ['direction', { type }],
    ['direction', { type, direction: 'BOTH' }],
    ['direction', { type, direction: 1 }],
    ['eventCallbackUrl', { type, direction, eventCallbackUrl: 'not a url' }],
    ['eventCallbackUrl', { type, direction, eventCallbackUrl: '/relative/callback' }],
    ['eventCallbackUrl', { type, direction, eventCallbackUrl: 'ftp://files.example/cb' }],
    ['eventCallbackUrl', { type, direction, eventCallbackUrl: 'https://exa mple.com/cb' }],
    ['eventCallbackUrl', { type, direction, eventCallbackUrl: '' }],
    ['eventCallbackUrl', { type, direction, eventCallbackUrl: 42 }],
    ['eventFallbackUrl', { type, direction, eventFallbackUrl: 'javascript:alert(1)' }],
    ['eventFallbackUrl', { type, direction, eventFallbackUrl: null }],
    ['tag', { type, direction, tag: 'x'.repeat(1025) }],
    ['tag', { type, direction, tag: 5 }],
    ['tag', { type, direction, tag: null }],
    ['tag', { type, direction, tag: ['a'] }],
    ['connectionMetadata', { type, direction, connectionMetadata: [] }],
    ['connectionMetadata', { type, direction, connectionMetadata: 'x' }],
    ['connectionMetadata', { type, direction, connectionMetadata: null }]
  ]
  for (const [field, body] of cases) {
    const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body })
    const name = `${field}: ${JSON.stringify(body).slice(0, 80)}`
    t.equal(res.status, 400, name)
    const answer = await res.json() as ErrorBody
    t.match(answer, { links: [], data: null, errors: [{ type: 'invalid_parameter', code: '400', source: { field } }] }, name)
    t.equal(answer.errors.length, 1, name)
  }
  const all = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: { tag: 7, eventCallbackUrl: 'x' } })
  t.equal(all.status, 400)
  t.same(((await all.json()) as ErrorBody).errors.map((e) => e.source.field), ['type', 'direction', 'eventCallbackUrl', 'tag'], 'every problem is listed')
  t.same(emu.brtcEndpoints(), [], 'nothing refused is stored')
  t.equal(emu.stats().brtc.operations.create, cases.length + 1)
  t.equal(emu.stats().brtc.created, 0)
})

t.test('create: unknown fields pass (the spec allows them) and are logged; refused when asked', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const res = await brtcCall(emu, token, 'POST', ENDPOINTS, { body: { ...WEBRTC_ENDPOINT, eventCallbackURL: 'https://typo.example', extra: 1 } })
  t.equal(res.status, 201)
  t.same(emu.brtcRequests()[0]?.bodyFields, ['type', 'direction', 'eventCallbackURL', 'extra'])
  t.notOk('extra' in (emu.brtcEndpoints()[0] as object), 'unknown fields are not stored')

  const strict = await startEmulator(t, { brtc: { rejectUnknownFields: true } })
  const strictToken = await bandwidthToken(strict)
  const refused = await brtcCall(strict, strictToken, 'POST', ENDPOINTS, { body: { ...WEBRTC_ENDPOINT, eventCallbackURL: 'https://typo.example', extra: 1 } })
  t.equal(refused.status, 400)
  t.same(((await refused.json()) as ErrorBody).errors.map((e) => e.source.field), ['eventCallbackURL', 'extra'])
  const full = { ...WEBRTC_ENDPOINT, eventCallbackUrl: 'https://a.example', eventFallbackUrl: 'https://b.example', tag: 't', connectionMetadata: {} }
  t.equal((await brtcCall(strict, strictToken, 'POST', ENDPOINTS, { body: full })).status, 201, 'every spec field is known')
})

t.test('list: limit 1-1000, enums, known cursors; 400 naming the parameter', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const forged = Buffer.from('brtc-emulator:after:x').toString('base64')
  const cases: Array<[string, string]> = [
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=-1', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=', 'limit'],
    ['limit=1.5', 'limit'],
    ['limit=1e2', 'limit'],
    ['limit=%205', 'limit'],
    ['limit=2&limit=3', 'limit'],
    ['type=SIP', 'type'],
    ['type=', 'type'],
    ['status=ONLINE', 'status'],
    ['status=connected', 'status'],
    ['afterCursor=', 'afterCursor'],
    ['afterCursor=abc', 'afterCursor'],
    [`afterCursor=${encodeURIComponent(forged)}`, 'afterCursor'],
    [`afterCursor=${encodeURIComponent(Buffer.from('brtc-emulator:after:1').toString('base64url'))}x`, 'afterCursor']
  ]
  for (const [query, parameter] of cases) {
    const res = await brtcCall(emu, token, 'GET', `${ENDPOINTS}?${query}`)
    t.equal(res.status, 400, query)
    t.match(await res.json(), { links: [], data: null, errors: [{ type: 'invalid_parameter', code: '400', source: { parameter } }] }, query)
  }
  const two = await brtcCall(emu, token, 'GET', `${ENDPOINTS}?limit=0&status=x`)
  t.same(((await two.json()) as ErrorBody).errors.map((e) => e.source.parameter), ['status', 'limit'])
  for (const limit of ['1', '1000', '0100']) t.equal((await brtcCall(emu, token, 'GET', `${ENDPOINTS}?limit=${limit}`)).status, 200, limit)
})
