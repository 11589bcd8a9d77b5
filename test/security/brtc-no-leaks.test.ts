// The leak scan of per-user endpoint tokens, at LOG_LEVEL=trace against the emulator over real
// HTTP: every route's successes and refusals, and every provider fault, including error bodies
// that echo the account token and an endpoint token back. Then every log line, every reply
// (headers and bodies of every status), /metrics and /readyz are decoded every way
// (test/helpers/leak-scan.ts) and searched: no endpoint token in any log line, nor in any reply
// but the 201 that hands it out; the bandwidth account token (asked for on /token/webrtc too),
// the client secret and the API keys nowhere at all.
import t from 'tap'
import { API_KEY, BANDWIDTH_SECRET, OTHER_KEY } from '../helpers/build.js'
import { findLeaks } from '../helpers/leak-scan.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { eventually } from '../helpers/eventually.js'
import { BRTC_CLIENT, KEY, OTHER, ROUTE, createDirectly, rig } from '../helpers/brtc-rig.js'
import { basicCredentials } from '../helpers/emulator.js'

t.test('no endpoint token in logs; no account token, secret or key in any reply, log, /metrics or /readyz', async (t) => {
  const clock = new FakeClock({ wall: Date.now() })
  const { app, emulator, logs } = await rig(t, { clock, env: { LOG_LEVEL: 'trace', BRTC_MAX_ENDPOINTS_PER_CALLER: '2', BRTC_SWEEP_INTERVAL_SECONDS: '60', UPSTREAM_TIMEOUT_MS: '2000' } })
  const handedOut: string[] = []
  const exposed: string[] = []
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string> = {}): Promise<{ statusCode: number, body: string }> => {
    const res = await app.inject({ method, url, headers })
    exposed.push(JSON.stringify(res.headers))
    // A 201's body holds the endpoint token the caller asked for; it is scanned for everything else.
    if (res.statusCode === 201) handedOut.push(res.body)
    else exposed.push(res.body)
    return res
  }

  // Successes, refusals, ownership, the cap.
  const mine = JSON.parse((await call('POST', ROUTE, KEY)).body) as { endpoint_id: string, token: string }
  await call('POST', ROUTE, KEY)
  await call('POST', ROUTE, KEY)
  const theirs = JSON.parse((await call('POST', ROUTE, OTHER)).body) as { endpoint_id: string }
  await call('GET', ROUTE, KEY)
  await call('DELETE', `${ROUTE}/${theirs.endpoint_id}`, KEY)
  await call('DELETE', `${ROUTE}/${mine.endpoint_id}`, KEY)
  await call('DELETE', `${ROUTE}/not-an-id`, KEY)
  await call('POST', ROUTE, { 'x-api-key': `${API_KEY.slice(0, -1)}X` })
  await call('GET', `${ROUTE}?token=${mine.token}`, OTHER)
  await call('DELETE', `${ROUTE}/${mine.token.slice(0, 40)}`, OTHER)
  // The account token is not handed out on /token/webrtc either, asked for or by default.
  await call('GET', '/token/webrtc', KEY)
  await call('GET', '/token/webrtc?upstream=bandwidth', KEY)

  // Provider faults, with error bodies that echo what must never travel on.
  const accountToken = emulator.issuedTokens('bandwidth')[0]?.accessToken as string
  const echo = JSON.stringify({ errors: [{ description: `Bearer ${accountToken} ${mine.token}` }] })
  for (const operation of ['create', 'list', 'get', 'delete'] as const) {
    for (const status of [400, 401, 403, 429, 500]) {
      emulator.setFault('brtc', { kind: 'status', status, body: echo, contentType: 'application/json', retryAfter: '1', operation })
      if (operation === 'create') await call('POST', ROUTE, OTHER)
      if (operation === 'list') await call('GET', ROUTE, OTHER)
      if (operation === 'get' || operation === 'delete') await call('DELETE', `${ROUTE}/${theirs.endpoint_id}`, OTHER)
      clock.advance(1000)
    }
  }
  emulator.setFault('brtc', { kind: 'json', body: { data: { endpointId: 'e-0123abcd-00', token: accountToken, expirationTimestamp: 'soon' } } })
  await call('POST', ROUTE, OTHER)
  emulator.setFault('brtc', { kind: 'drop' })
  await call('POST', ROUTE, OTHER)
  emulator.setFault('brtc', null)

  // The sweep, at trace.
  emulator.setEndpointLifetime(-10)
  await createDirectly(emulator, { tag: 'wts1.expired' })
  await clock.advanceAsync(60_000)
  await eventually(() => emulator.brtcRequests().some((r) => r.operation === 'delete' && r.outcome === 204 && r.endpointId !== mine.endpoint_id), 'the sweep deleted it')

  exposed.push((await app.inject({ url: '/metrics' })).body, (await app.inject({ url: '/readyz' })).body)
  // Those handed out (some deleted since) and every one the provider holds.
  const endpointTokens = [...new Set(handedOut.map((body) => (JSON.parse(body) as { token: string }).token).concat(emulator.brtcEndpoints().map((e) => e.token)))]
  const accountTokens = emulator.issuedTokens('bandwidth').map((x) => x.accessToken)
  t.ok(endpointTokens.length >= 3 && accountTokens.length >= 1, 'tokens were issued, so the scan has something to find')
  t.ok(logs.length > 50, `${logs.length} log lines captured at trace`)
  t.ok(logs.some((l) => l.includes(mine.endpoint_id)), 'endpoint ids may be logged')
  const secrets = [BANDWIDTH_SECRET, basicCredentials(BRTC_CLIENT.clientId, BRTC_CLIENT.clientSecret), API_KEY, OTHER_KEY, ...accountTokens]
  t.same(findLeaks(logs, [...secrets, ...endpointTokens]), [], 'no secret, account token or endpoint token in any log line, in any encoding')
  t.same(findLeaks(exposed, [...secrets, ...endpointTokens]), [], 'nor in any reply header, error body, /metrics or /readyz')
  t.same(findLeaks(handedOut, secrets), [], 'a 201 carries the endpoint token and nothing else secret')
})
