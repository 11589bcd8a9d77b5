// End to end over real HTTP: the service listening on loopback in BRTC mode, its Endpoints API
// calls going to the emulator over the wire, called with global fetch by an API-key caller and
// a JWT caller that share a name. Each gets its own endpoints (separate identities, separate
// tags); the emulator saw the documented requests with the bandwidth token as Bearer; that
// account token is in no reply; and a deleted endpoint is gone from the provider.
import t from 'tap'
import { createTestJwks } from '../helpers/jwks.js'
import { API_KEY, BANDWIDTH_SECRET } from '../helpers/build.js'
import { rig } from '../helpers/brtc-rig.js'

t.test('create, list and delete over HTTP, as an API-key caller and a JWT caller of the same name', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app: server, emulator } = await rig(t, {
    env: {
      LOG_LEVEL: 'silent',
      API_KEYS: `alice:${API_KEY}`,
      AUTH_JWKS_URL: idp.jwksUrl.href,
      AUTH_ISSUER: idp.issuer,
      AUTH_AUDIENCE: idp.audience
    }
  })
  const base = await server.listen({ host: '127.0.0.1', port: 0 })
  const asKey = { 'x-api-key': API_KEY }
  const asJwt = { authorization: `Bearer ${await idp.sign({ sub: 'alice' })}` }
  const replies: string[] = []
  const call = async (method: string, path: string, headers: Record<string, string>): Promise<Response> => {
    const res = await fetch(`${base}${path}`, { method, headers })
    const body = await res.text()
    replies.push(JSON.stringify([...res.headers]), body)
    return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers })
  }

  const byKey = await call('POST', '/endpoints/webrtc', asKey)
  t.equal(byKey.status, 201)
  t.equal(byKey.headers.get('cache-control'), 'no-store')
  const keyEndpoint = await byKey.json() as { endpoint_id: string, token: string, expires_in: number }
  const byJwt = await call('POST', '/endpoints/webrtc', asJwt)
  t.equal(byJwt.status, 201)
  const jwtEndpoint = await byJwt.json() as { endpoint_id: string }

  const tags = new Set(emulator.brtcEndpoints().map((e) => e.tag))
  t.equal(tags.size, 2, 'an API-key caller and a JWT caller named alike get different tags')
  const keyList = await (await call('GET', '/endpoints/webrtc', asKey)).json() as { endpoints: Array<{ endpoint_id: string }> }
  t.same(keyList.endpoints.map((e) => e.endpoint_id), [keyEndpoint.endpoint_id])
  const jwtList = await (await call('GET', '/endpoints/webrtc', asJwt)).json() as { endpoints: Array<{ endpoint_id: string }> }
  t.same(jwtList.endpoints.map((e) => e.endpoint_id), [jwtEndpoint.endpoint_id])
  t.equal((await call('DELETE', `/endpoints/webrtc/${keyEndpoint.endpoint_id}`, asJwt)).status, 404, 'not the JWT caller\'s')
  t.equal((await call('DELETE', `/endpoints/webrtc/${keyEndpoint.endpoint_id}`, asKey)).status, 204)
  t.same(emulator.brtcEndpoints().map((e) => e.endpointId), [jwtEndpoint.endpoint_id], 'gone from the provider')

  const requests = emulator.brtcRequests()
  t.same(requests.map((r) => `${r.operation ?? '?'} ${r.outcome}`), ['create 201', 'create 201', 'list 200', 'list 200', 'get 200', 'get 200', 'delete 204'])
  t.ok(requests.every((r) => r.authScheme === 'Bearer' && r.path.startsWith('/v2/accounts/9900000/endpoints')))
  t.equal(emulator.issuedTokens('bandwidth').length, 1, 'one account token, cached, for every call')
  const accountToken = emulator.issuedTokens('bandwidth')[0]?.accessToken as string
  t.notOk(replies.some((r) => r.includes(accountToken)), 'the account token is in no reply')
  t.notOk(replies.some((r) => r.includes(BANDWIDTH_SECRET)))
})
