// Who may call the emulated BRTC API: only `Bearer <token>` with a token the emulated bandwidth
// token endpoint issued and that has not expired (401 otherwise, before anything else is looked
// at), on an account that exists (a malformed account id is the spec's 400, an unknown one 403).
import t from 'tap'
import { bandwidthToken, basic, brtcCall, CREDS, requestToken, startEmulator, WEBRTC_ENDPOINT } from '../helpers/emulator.js'

const ENDPOINTS = '/accounts/9900000/endpoints'

interface ErrorBody { links: unknown[], data: null, errors: Array<{ id: string, type: string, description: string, code: string, source: Record<string, string> }> }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('401 in the brtcErrorResponse shape for every credential that is not a live bandwidth token', async (t) => {
  const emu = await startEmulator(t, { tokenLimit: 3 })
  const valid = await bandwidthToken(emu)
  const globalRes = await requestToken(emu, 'global')
  const globalToken = ((await globalRes.json()) as { access_token: string }).access_token
  emu.setExpiresIn('bandwidth', 0)
  const expiredNow = await bandwidthToken(emu)
  emu.setExpiresIn('bandwidth', -5)
  const expiredBefore = await bandwidthToken(emu)
  t.equal(emu.issuedTokens().length, 3, 'the first token was evicted (tokenLimit 3)')

  const cases: Record<string, [string | null, RegExp]> = {
    'no Authorization': [null, /Authentication required/],
    'Basic with the bandwidth client credentials': [basic(CREDS.bandwidth.clientId, CREDS.bandwidth.clientSecret), /Bearer/],
    garbage: ['xyz', /Bearer/],
    'Bearer without a token': ['Bearer ', /Bearer/],
    'a token with a space': [`Bearer ${valid.slice(0, 10)} ${valid.slice(10)}`, /Bearer/],
    'a token never issued': ['Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', /not valid/],
    'a global token': [`Bearer ${globalToken}`, /not valid/],
    'a token expiring as issued (expires_in 0)': [`Bearer ${expiredNow}`, /expired/],
    'an expired token (expires_in -5)': [`Bearer ${expiredBefore}`, /expired/],
    'a token no longer remembered (evicted)': [`Bearer ${valid}`, /not valid/]
  }
  for (const [name, [authorization, description]] of Object.entries(cases)) {
    const res = await brtcCall(emu, '', 'POST', ENDPOINTS, { authorization, body: WEBRTC_ENDPOINT })
    t.equal(res.status, 401, name)
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="BRTC Endpoints API (emulated)"', name)
    const body = await res.json() as ErrorBody
    t.same(Object.keys(body), ['links', 'data', 'errors'], name)
    t.match(body, { links: [], data: null, errors: [{ id: UUID, type: 'unauthorized', description, code: '401', source: { header: 'Authorization' } }] }, name)
    t.equal(body.errors.length, 1, name)
  }
  t.same(emu.brtcEndpoints(), [], 'nothing was created')
  t.match(emu.brtcRequests().map((e) => [e.outcome, e.error]), Object.keys(cases).map(() => [401, 'unauthorized']))
})

t.test('a live token works, whatever the case of the scheme; it is checked before the path and the account', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS, { authorization: `bearer ${token}` })).status, 200, 'RFC 7235: case-insensitive scheme')
  t.equal((await brtcCall(emu, token, 'GET', ENDPOINTS, { authorization: `Bearer  ${token} ` })).status, 200, 'extra spaces')
  for (const path of ['/nowhere', '/accounts/acct/endpoints', '/accounts/1234/endpoints', `${ENDPOINTS}/e-missing`]) {
    t.equal((await brtcCall(emu, token, 'GET', path, { authorization: null })).status, 401, path)
  }
  t.equal((await brtcCall(emu, token, 'PUT', ENDPOINTS, { authorization: null })).status, 401, 'before 405')
  t.equal((await brtcCall(emu, token, 'POST', ENDPOINTS, { authorization: null, contentType: 'text/plain', body: 'x' })).status, 401, 'before 415')
})

t.test('accounts: a malformed id is the spec 400, an unknown one 403, for every operation', async (t) => {
  const emu = await startEmulator(t)
  const token = await bandwidthToken(emu)
  const calls: Array<[string, string]> = [['POST', ''], ['GET', ''], ['GET', '/e-1'], ['DELETE', '/e-1']]
  for (const [method, rest] of calls) {
    const malformed = await brtcCall(emu, token, method, `/accounts/99x0/endpoints${rest}`, method === 'POST' ? { body: WEBRTC_ENDPOINT } : {})
    t.equal(malformed.status, 400, `${method} malformed`)
    t.match(await malformed.json(), {
      links: [],
      data: null,
      errors: [{ type: 'invalid_parameter', description: 'accountId must not contain any characters other than numbers.', code: '400', source: { parameter: 'accountId' } }]
    })
    const unknown = await brtcCall(emu, token, method, `/accounts/5500123/endpoints${rest}`, method === 'POST' ? { body: WEBRTC_ENDPOINT } : {})
    t.equal(unknown.status, 403, `${method} unknown account`)
    t.match(await unknown.json(), { links: [], data: null, errors: [{ type: 'forbidden', code: '403', source: { parameter: 'accountId' } }] })
  }
  t.same(emu.brtcEndpoints(), [])
})
