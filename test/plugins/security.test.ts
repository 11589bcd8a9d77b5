// Helmet headers and the exact-origin CORS allowlist.
import t from 'tap'
import { build, API_KEY } from '../helper.js'

const ALLOWED = 'https://app.example.com'

t.test('helmet headers are on every reply', async (t) => {
  const { app } = await build(t)
  const res = await app.inject('/healthz')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN')
  t.match(String(res.headers['content-security-policy']), /default-src 'none'/)
  t.ok(res.headers['strict-transport-security'])
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

t.test('an origin not on the list gets no CORS headers', async (t) => {
  const { app } = await build(t, { env: { CORS_ORIGINS: ALLOWED } })
  for (const origin of ['https://evil.example.com', `${ALLOWED}.evil.com`, 'null', 'https://APP.example.com:443x']) {
    const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY, origin } })
    t.notOk(res.headers['access-control-allow-origin'], origin)
  }
})
