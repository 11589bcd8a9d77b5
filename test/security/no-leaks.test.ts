// Runs the service's scenarios at LOG_LEVEL=trace and scans every captured log line, every
// error body and every reply header for secrets: client secrets, API keys, issued access tokens,
// JWTs, and the Basic header the service sends upstream, decoded every way (test/helpers/leak-scan.ts).
// Any hit is a leak.
import t from 'tap'
import { build, API_KEY, OTHER_KEY, BANDWIDTH_SECRET, GLOBAL_SECRET } from '../helpers/build.js'
import { basicCredentials } from '../helpers/emulator.js'
import { createTestJwks } from '../helpers/jwks.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { findLeaks } from '../helpers/leak-scan.js'

t.test('no secret, key, token or JWT in any log line, error body or header', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const env = {
    LOG_LEVEL: 'trace',
    AUTH_JWKS_URL: idp.jwksUrl.href,
    AUTH_ISSUER: idp.issuer,
    AUTH_AUDIENCE: idp.audience,
    RATE_LIMIT_MAX: '5'
  }
  const provider = fakeProvider()
  const healthy = await build(t, { provider, env, auth: { customFetch: idp.fetch } })
  const failing = fakeProvider()
  failing.respond((upstream) => new Response(JSON.stringify({
    error: 'invalid_client', error_description: `bad ${upstream === 'global' ? GLOBAL_SECRET : BANDWIDTH_SECRET}`
  }), { status: 401, headers: { 'content-type': 'application/json' } }))
  const broken = await build(t, { provider: failing, env, auth: { customFetch: idp.fetch } })

  const exposed: string[] = []
  let successes = 0
  const call = async (app: typeof healthy.app, url: string, headers: Record<string, string> = {}): Promise<void> => {
    const res = await app.inject({ url, headers })
    exposed.push(JSON.stringify(res.headers))
    if (res.statusCode >= 400 || url === '/readyz') exposed.push(res.body)
    else successes++
  }

  const good = await idp.sign({ sub: 'alice' })
  const expired = await idp.sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 600 })
  const wrongKey = `${API_KEY.slice(0, -1)}X`
  // Success with both methods and both upstreams.
  await call(healthy.app, '/token/webrtc', { 'x-api-key': API_KEY })
  await call(healthy.app, '/token/webrtc?upstream=bandwidth', { 'x-api-key': OTHER_KEY })
  await call(healthy.app, '/token/webrtc', { authorization: `Bearer ${good}` })
  // Failures: bad keys, bad JWTs, a credential in the query string, rate limiting, readiness.
  await call(healthy.app, '/token/webrtc', { 'x-api-key': wrongKey })
  await call(healthy.app, '/token/webrtc', { authorization: `Bearer ${expired}` })
  await call(healthy.app, `/token/webrtc?key=${API_KEY}`, { 'x-api-key': API_KEY })
  await call(healthy.app, `/token/webrtc?access_token=${good}`)
  for (let i = 0; i < 6; i++) await call(healthy.app, '/token/webrtc', { 'x-api-key': OTHER_KEY })
  await call(healthy.app, '/readyz')
  // Provider rejecting our credentials with a body that echoes the secret.
  await call(broken.app, '/token/webrtc', { 'x-api-key': API_KEY })
  await call(broken.app, '/token/webrtc?upstream=bandwidth', { 'x-api-key': API_KEY })
  await call(broken.app, '/readyz')
  // The request log line and the metrics carry the route, caller name and upstream: a credential
  // in the upstream value or in the path must reach neither, and neither may the scrape.
  await call(healthy.app, `/token/webrtc?upstream=${API_KEY}`, { 'x-api-key': OTHER_KEY })
  await call(healthy.app, `/token/webrtc?upstream=${good}`, { authorization: `Bearer ${good}` })
  await call(healthy.app, `/token/${API_KEY}`)
  for (const built of [healthy, broken]) exposed.push((await built.app.inject({ url: '/metrics' })).body)

  t.ok(successes >= 3 && provider.issued.length >= 2, 'tokens were issued, so the scan has something to find')
  const logs = [...healthy.logs, ...broken.logs]
  t.ok(logs.length > 20, `${logs.length} log lines captured`)
  t.equal(healthy.app.log.level, 'trace', 'the scan runs at trace, where the most is logged')
  t.ok(logs.some((line) => (JSON.parse(line) as { level: number }).level < 30), 'and lines below info were captured')
  const needles = [
    BANDWIDTH_SECRET, GLOBAL_SECRET, API_KEY, OTHER_KEY, wrongKey,
    basicCredentials('bw-client', BANDWIDTH_SECRET), basicCredentials('gl-client', GLOBAL_SECRET),
    ...provider.issued, good, expired
  ]
  t.same(findLeaks([...logs, ...exposed], needles), [], 'no needle in any line, body or header, in any encoding')
})
