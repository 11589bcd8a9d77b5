// The emulator's token endpoints on the wire: the documented request succeeds with the
// documented answer (the providers' own test vectors included), every deviation is refused the
// way an OAuth 2.0 provider refuses it, and what RFC 6749 3.2 has a provider overlook
// (unrecognised parameters, parameters without a value) is overlooked.
import t from 'tap'
import { request } from 'node:http'
import { basic, CREDS, decodeJwtPart, DOCUMENTED_BODY, FORM, JWT_SHAPE, requestToken, startEmulator } from '../helpers/emulator.js'
import { eventually } from '../helpers/eventually.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('bandwidth: the documented request with the jdoe test vector', async (t) => {
  const emu = await startEmulator(t, { tenants: { bandwidth: { clientId: 'jdoe', clientSecret: 'correct-horse-battery-staple' } } })
  const res = await requestToken(emu, 'bandwidth', { authorization: 'Basic amRvZTpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8')
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as Record<string, unknown>
  t.same(Object.keys(body), ['access_token', 'access_token_id', 'token_type', 'expires_in'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 3600)
  t.match(body.access_token, JWT_SHAPE)
  t.match(body.access_token_id, UUID)
  const [header, payload] = (body.access_token as string).split('.')
  t.match(decodeJwtPart(header), { alg: 'RS256', typ: 'JWT' })
  t.match(decodeJwtPart(payload), { iss: 'https://id.bandwidth.com', jti: body.access_token_id, emulated: true })
  t.same(emu.issuedTokens('bandwidth').map((x) => x.accessToken), [body.access_token])
  t.equal(emu.requests('bandwidth'), 1)
  t.equal(emu.requests('global'), 0)
})

t.test('global: the documented request with the hgranger test vector', async (t) => {
  const emu = await startEmulator(t, { tenants: { global: { clientId: 'hgranger', clientSecret: 'Cr00k$h@nk$' } } })
  const res = await requestToken(emu, 'global', { authorization: 'Basic aGdyYW5nZXI6Q3IwMGskaEBuayQ=' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8')
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as Record<string, unknown>
  t.equal(body.expires_in, 600)
  t.equal(body.token_type, 'Bearer')
  t.match(body.access_token_id, UUID)
  t.match(decodeJwtPart((body.access_token as string).split('.')[1]), { iss: 'https://id.voxbone.com', scope: 'voice.webrtc' })
  t.same(emu.issuedTokens().map((x) => [x.tenant, x.accessToken, x.accessTokenId, x.expiresIn]),
    [['global', body.access_token, body.access_token_id, 600]])

  // RFC 6749 2.3.1 form-encodes id and secret before base64 ($ -> %24, @ -> %40). The provider's
  // vector shows it does not: that variant must fail, so a client doing it is caught here.
  const formEncoded = basic(encodeURIComponent('hgranger'), encodeURIComponent('Cr00k$h@nk$'))
  t.not(formEncoded, 'Basic aGdyYW5nZXI6Q3IwMGskaEBuayQ=')
  t.equal((await requestToken(emu, 'global', { authorization: formEncoded })).status, 401)
})

t.test('tokens are unique; access_token_id can be left out; charset and URLSearchParams bodies pass', async (t) => {
  const emu = await startEmulator(t, { tenants: { bandwidth: { issueTokenId: false } } })
  const a = await (await requestToken(emu, 'bandwidth', { contentType: `${FORM}; charset=UTF-8` })).json() as Record<string, unknown>
  const b = await (await requestToken(emu, 'bandwidth', { contentType: null, body: new URLSearchParams({ grant_type: 'client_credentials' }) })).json() as Record<string, unknown>
  t.same(Object.keys(a), ['access_token', 'token_type', 'expires_in'])
  t.not(a.access_token, b.access_token)
  t.same(emu.issuedTokens('bandwidth').map((x) => x.accessTokenId), [undefined, undefined])
  t.same(emu.issuedTokens('global'), [])
  const scoped = await requestToken(emu, 'global', { body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'voice.webrtc' }) })
  t.equal(scoped.status, 200)
  t.equal(emu.issuedTokens().length, 3)
})

t.test('client authentication failures: 401 invalid_client with a Basic challenge', async (t) => {
  const emu = await startEmulator(t)
  const { clientId, clientSecret } = CREDS.bandwidth
  const b64 = (s: string): string => Buffer.from(s).toString('base64')
  const cases: Record<string, string | null> = {
    missing: null,
    'wrong secret': basic(clientId, 'nope'),
    'wrong id': basic('other', clientSecret),
    'other tenant credentials': basic(CREDS.global.clientId, CREDS.global.clientSecret),
    'secret only': `Basic ${b64(clientSecret)}`,
    'Bearer scheme': `Bearer ${b64(`${clientId}:${clientSecret}`)}`,
    'no scheme': b64(`${clientId}:${clientSecret}`),
    'not base64': 'Basic !!!!',
    'missing padding': `Basic ${b64(`${clientId}:${clientSecret}x`).replace(/=+$/, '')}`,
    'base64url alphabet': `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64url')}`,
    'trailing data': `Basic ${b64(`${clientId}:${clientSecret}`)} extra`
  }
  for (const [name, authorization] of Object.entries(cases)) {
    const res = await requestToken(emu, 'bandwidth', { authorization })
    t.equal(res.status, 401, name)
    t.match(res.headers.get('www-authenticate'), /^Basic realm="[^"]+"$/, name)
    t.equal(res.headers.get('cache-control'), 'no-store', name)
    const body = await res.json() as Record<string, unknown>
    t.equal(body.error, 'invalid_client', name)
    t.type(body.error_description, 'string', name)
  }
  t.equal(emu.requests('bandwidth'), Object.keys(cases).length, 'failed requests are counted')
  t.same(emu.issuedTokens(), [])
  const lowerCase = await requestToken(emu, 'bandwidth', { authorization: basic(clientId, clientSecret).replace('Basic', 'basic') })
  t.equal(lowerCase.status, 200, 'the scheme name is case-insensitive (RFC 7617)')
})

t.test('request refusals: content type, grant, scope, parameters', async (t) => {
  const emu = await startEmulator(t)
  const expect = async (tenant: 'bandwidth' | 'global', r: Parameters<typeof requestToken>[2], status: number, error: string, name: string): Promise<void> => {
    const res = await requestToken(emu, tenant, r)
    t.equal(res.status, status, name)
    t.equal(res.headers.get('www-authenticate'), null, name)
    t.match(await res.json(), { error }, name)
  }
  await expect('bandwidth', { contentType: 'application/json', body: '{"grant_type":"client_credentials"}' }, 400, 'invalid_request', 'JSON body')
  await expect('bandwidth', { contentType: null }, 400, 'invalid_request', 'text/plain from fetch')
  await expect('bandwidth', { contentType: null, body: new TextEncoder().encode(DOCUMENTED_BODY.bandwidth) }, 400, 'invalid_request', 'no Content-Type')
  await expect('bandwidth', { contentType: 'multipart/form-data' }, 400, 'invalid_request', 'multipart')
  await expect('bandwidth', { body: 'grant_type=password' }, 400, 'unsupported_grant_type', 'password grant')
  await expect('bandwidth', { body: 'grant_type=authorization_code' }, 400, 'unsupported_grant_type', 'code grant')
  await expect('bandwidth', { body: '' }, 400, 'invalid_request', 'empty body')
  await expect('bandwidth', { body: 'grant_type=' }, 400, 'invalid_request', 'empty grant_type: missing')
  await expect('bandwidth', { body: 'grant_type&scope=' }, 400, 'invalid_request', 'grant_type without =: missing')
  await expect('bandwidth', { body: 'grant_type=client_credentials&grant_type=client_credentials' }, 400, 'invalid_request', 'repeated')
  await expect('bandwidth', { body: 'grant_type=client_credentials&scope=voice.webrtc' }, 400, 'invalid_scope', 'scope on bandwidth')
  await expect('global', { body: 'grant_type=client_credentials' }, 400, 'invalid_scope', 'global without scope')
  await expect('global', { body: 'grant_type=client_credentials&scope=' }, 400, 'invalid_scope', 'empty scope on global: missing')
  await expect('global', { body: 'grant_type=client_credentials&scope=voice.webrtc+openid' }, 400, 'invalid_scope', 'extra scope')
  await expect('global', { body: 'grant_type=client_credentials&scope=voice' }, 400, 'invalid_scope', 'wrong scope')
  await expect('global', { body: 'grant_type=client_credentials&scope=voice.webrtc&scope=voice.webrtc' }, 400, 'invalid_request', 'scope twice')
  await expect('global', { body: 'grant_type=password&scope=voice.webrtc' }, 400, 'unsupported_grant_type', 'password grant, global')
  t.equal(emu.requests('bandwidth') + emu.requests('global'), 17)
  t.same(emu.issuedTokens(), [])
})

t.test('RFC 6749 3.2: unrecognised parameters are ignored, and a parameter without a value counts as omitted', async (t) => {
  const emu = await startEmulator(t)
  const cases: Array<['bandwidth' | 'global', string, string]> = [
    ['bandwidth', 'grant_type=client_credentials&foo=bar', 'an unknown parameter'],
    ['bandwidth', 'foo=1&grant_type=client_credentials&foo=2', 'an unknown parameter, twice'],
    ['bandwidth', 'grant_type=client_credentials&client_secret=s3cr3t-in-body', 'client_secret in the body (Basic is what authenticates)'],
    ['bandwidth', 'grant_type=client_credentials&scope=', 'an empty scope where none is accepted'],
    ['bandwidth', 'grant_type=client_credentials&scope', 'a scope without = where none is accepted'],
    ['bandwidth', 'grant_type=&grant_type=client_credentials', 'an empty grant_type before the real one: not a repeat'],
    ['global', 'grant_type=client_credentials&scope=voice.webrtc&scope=', 'an empty second scope: not a repeat'],
    ['global', 'grant_type=client_credentials&scope=voice.webrtc&audience=x', 'an unknown parameter, global']
  ]
  for (const [tenant, body, name] of cases) {
    const res = await requestToken(emu, tenant, { body })
    t.equal(res.status, 200, name)
    t.match(await res.json(), { token_type: 'Bearer' }, name)
  }
  t.equal(emu.issuedTokens().length, cases.length)
  t.equal((await requestToken(emu, 'bandwidth', { authorization: null, body: 'grant_type=client_credentials&client_id=bw-id&client_secret=x' })).status, 401,
    'credentials in the body do not replace Basic')

  // The log keeps each form as sent, so a test can still check every field a client sends.
  t.same(emu.requestLog().map((entry) => entry.body), [
    [['grant_type', 'client_credentials'], ['foo', '[redacted]']],
    [['foo', '[redacted]'], ['grant_type', 'client_credentials'], ['foo', '[redacted]']],
    [['grant_type', 'client_credentials'], ['client_secret', '[redacted]']],
    [['grant_type', 'client_credentials'], ['scope', '']],
    [['grant_type', 'client_credentials'], ['scope', '']],
    [['grant_type', ''], ['grant_type', 'client_credentials']],
    [['grant_type', 'client_credentials'], ['scope', 'voice.webrtc'], ['scope', '']],
    [['grant_type', 'client_credentials'], ['scope', 'voice.webrtc'], ['audience', '[redacted]']],
    [['grant_type', 'client_credentials'], ['client_id', '[redacted]'], ['client_secret', '[redacted]']]
  ])
  t.notMatch(JSON.stringify(emu.requestLog()), 's3cr3t-in-body')
})

t.test('wrong method, unknown path, oversized body', async (t) => {
  const emu = await startEmulator(t)
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const res = await requestToken(emu, 'global', { method })
    t.equal(res.status, 405, method)
    t.equal(res.headers.get('allow'), 'POST', method)
    t.match(await res.json(), { error: 'invalid_request' })
  }
  t.equal(emu.requests('global'), 3)
  for (const path of ['/', '/api/v1/oauth2/token', '/bandwidth/api/v1/oauth2/token/', '/other/api/v1/oauth2/token']) {
    const res = await fetch(emu.url + path, { method: 'POST', body: DOCUMENTED_BODY.bandwidth })
    t.equal(res.status, 404, path)
  }
  t.equal(emu.requests('bandwidth'), 0, 'unknown paths count for no tenant')
  const huge = await requestToken(emu, 'bandwidth', { body: `grant_type=client_credentials&pad=${'x'.repeat(20_000)}` })
  t.equal(huge.status, 413)
  t.match(await huge.json(), { error: 'invalid_request' })
  t.ok((emu.requestLog().at(-1)?.bodyBytes as number) > 20_000)
})

t.test('request log: what was sent, never the credentials', async (t) => {
  const emu = await startEmulator(t, { logLimit: 3 })
  const res = await fetch(`${emu.tokenUrl('global')}?client_secret=in-query`, {
    method: 'POST',
    headers: { authorization: basic(CREDS.global.clientId, CREDS.global.clientSecret), 'content-type': FORM, accept: 'application/json', 'X-Extra': 'v' },
    body: DOCUMENTED_BODY.global
  })
  const { access_token: token } = await res.json() as { access_token: string }
  const [entry] = emu.requestLog()
  t.match(entry, {
    seq: 1,
    tenant: 'global',
    method: 'POST',
    path: '/global/api/v1/oauth2/token',
    contentType: FORM,
    accept: 'application/json',
    authScheme: 'Basic',
    body: [['grant_type', 'client_credentials'], ['scope', 'voice.webrtc']],
    bodyBytes: DOCUMENTED_BODY.global.length,
    outcome: 200,
    error: undefined,
    fault: undefined
  })
  t.ok(entry?.headerNames.includes('authorization') && entry.headerNames.includes('x-extra'))
  t.match(entry?.at, /^\d{4}-\d\d-\d\dT/)
  await requestToken(emu, 'global', { authorization: Buffer.from('gl-id:gl-secret-0123456789').toString('base64') })
  await requestToken(emu, 'bandwidth', { contentType: 'text/plain', body: 'grant_type=client_credentials' })
  await requestToken(emu, 'bandwidth', { authorization: null, accept: null })
  const log = emu.requestLog()
  t.same(log.map((e) => e.seq), [2, 3, 4], 'only the last logLimit entries are kept')
  t.match(log, [
    { authScheme: '[unrecognised]', outcome: 401, error: 'invalid_client' },
    { contentType: 'text/plain', body: undefined, outcome: 400, error: 'invalid_request' },
    { authScheme: undefined, accept: '*/*', outcome: 401 } // fetch's default Accept
  ])
  const text = JSON.stringify(emu.requestLog()) + JSON.stringify(entry)
  for (const secret of [CREDS.global.clientSecret, Buffer.from(`${CREDS.global.clientId}:${CREDS.global.clientSecret}`).toString('base64'), 'in-query', token]) {
    t.notMatch(text, secret)
  }
  const copy = emu.requestLog()
  copy[0]!.tenant = 'bandwidth'
  t.equal(emu.requestLog()[0]?.tenant, 'global', 'callers get copies')
})

t.test('issued tokens list keeps the last tokenLimit', async (t) => {
  const emu = await startEmulator(t, { tokenLimit: 2 })
  const issued: string[] = []
  for (let i = 0; i < 3; i++) issued.push((await (await requestToken(emu, 'bandwidth')).json() as { access_token: string }).access_token)
  t.same(emu.issuedTokens().map((x) => x.accessToken), issued.slice(1))
  t.equal(emu.stats().issued.bandwidth, 3, 'the counter is not bounded')
  t.type(emu.issuedTokens()[0]?.issuedAt, 'number')
})

t.test('a client going away mid-body does not disturb the emulator', async (t) => {
  const emu = await startEmulator(t)
  const { port } = new URL(emu.url)
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/bandwidth/api/v1/oauth2/token', headers: { 'content-type': FORM, 'content-length': '100' } })
  req.on('error', () => {}) // the destroy below: a socket hang up
  const closed = new Promise((resolve) => { req.once('close', resolve) })
  req.write('grant_type=')
  await eventually(() => emu.requests('bandwidth') === 1, 'the emulator received the request')
  req.destroy()
  await closed
  t.equal((await requestToken(emu, 'bandwidth')).status, 200, 'the next request is answered')
  t.equal(emu.requests('bandwidth'), 2, 'both counted, each once')
  t.same(emu.requestLog().map((r) => r.outcome), [200], 'only the complete request is logged')
})
