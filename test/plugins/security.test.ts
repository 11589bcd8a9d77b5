// Helmet headers and the exact-origin CORS allowlist.
import t from 'tap'
import { build, API_KEY } from '../helpers/build.js'
import { HELMET_OPTIONS, helmetHeaders } from '../../src/plugins/security.js'

const ALLOWED = 'https://app.example.com'

t.test('helmet headers are on every reply', async (t) => {
  const { app } = await build(t)
  const res = await app.inject('/healthz')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['x-frame-options'], 'DENY')
  t.equal(res.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'")
  t.ok(res.headers['strict-transport-security'])
  t.equal(res.headers['referrer-policy'], 'no-referrer')
})

t.test('an API keeps the headers that protect API responses and drops document-only ones', async (t) => {
  t.same(Object.keys(helmetHeaders(HELMET_OPTIONS)).sort(), [
    'content-security-policy', 'cross-origin-resource-policy', 'referrer-policy',
    'strict-transport-security', 'x-content-type-options', 'x-frame-options'
  ])
})

t.test('refusals and unknown routes carry the same headers and the request id', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_MAX: '1' } })
  const ok = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  const replies = {
    401: await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': 'nope'.padEnd(40, 'x') } }),
    404: await app.inject('/no/such/route'),
    429: await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  }
  for (const [status, res] of Object.entries(replies)) {
    t.equal(res.statusCode, Number(status))
    for (const name of Object.keys(helmetHeaders(HELMET_OPTIONS))) {
      t.equal(res.headers[name], ok.headers[name], `${status}: ${name}`)
    }
    t.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/, `${status}: x-request-id`)
  }
})

t.test('helmetHeaders: the headers helmet sets, computed once', async (t) => {
  const headers = helmetHeaders(HELMET_OPTIONS)
  t.equal(headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", 'only the two directives')
  t.equal(headers['cross-origin-resource-policy'], 'same-site')
  t.equal(headers['strict-transport-security'], 'max-age=31536000; includeSubDomains')
  t.notOk('x-powered-by' in headers)
  t.ok(Object.isFrozen(headers))
  t.same(Object.keys(headers), Object.keys(headers).map((k) => k.toLowerCase()), 'lower-case names')
  // Every option is helmet's: a header turned off there is absent here, a bad option throws.
  t.notOk('x-frame-options' in helmetHeaders({ xFrameOptions: false }))
  t.throws(() => helmetHeaders({ contentSecurityPolicy: { useDefaults: false, directives: {} } }))
})

t.test('without CORS_ORIGINS no CORS headers are sent', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY, origin: ALLOWED } })
  t.equal(res.statusCode, 200)
  t.notOk(res.headers['access-control-allow-origin'])
})

t.test('an allowed origin gets CORS headers, a preflight succeeds', async (t) => {
  const { app } = await build(t, { env: { CORS_ORIGINS: `${ALLOWED},http://localhost:5173` } })
  const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY, origin: ALLOWED } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['access-control-allow-origin'], ALLOWED)
  t.notOk(res.headers['access-control-allow-credentials'])
  const pre = await app.inject({
    method: 'OPTIONS',
    url: '/token/webrtc',
    headers: { origin: ALLOWED, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-api-key' }
  })
  t.equal(pre.statusCode, 204)
  t.equal(pre.headers['access-control-allow-origin'], ALLOWED)
  t.match(String(pre.headers['access-control-allow-headers']), /X-API-Key/i)
})

t.test('every answer to an OPTIONS is a 204 preflight or the service\'s own error shape', async (t) => {
  const { app } = await build(t, { env: { CORS_ORIGINS: ALLOWED } })
  const bare = await app.inject({ method: 'OPTIONS', url: '/token/webrtc', headers: { origin: ALLOWED } })
  t.equal(bare.statusCode, 204, 'no Access-Control-Request-Method: answered as a preflight')
  t.equal(bare.headers['access-control-allow-origin'], ALLOWED)
  t.equal(bare.body, '')
  for (const headers of [{}, { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' }]) {
    const res = await app.inject({ method: 'OPTIONS', url: '/token/webrtc', headers })
    t.equal(res.statusCode, 404, JSON.stringify(headers))
    t.equal(res.json().code, 'NOT_FOUND')
    t.notOk(res.headers['access-control-allow-origin'])
  }
})

t.test('an origin not on the list gets no CORS headers', async (t) => {
  const { app } = await build(t, { env: { CORS_ORIGINS: ALLOWED } })
  for (const origin of ['https://evil.example.com', `${ALLOWED}.evil.com`, 'null', 'https://APP.example.com:443x']) {
    const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY, origin } })
    t.notOk(res.headers['access-control-allow-origin'], origin)
  }
})
