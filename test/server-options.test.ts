// Server options: the logged URL masks query values, request ids are honoured only from a trusted
// proxy, and TRUST_PROXY hop counts and address lists take effect.
import t from 'tap'
import { loggableUrl } from '../src/server-options.js'
import { build } from './helpers/build.js'

t.test('loggableUrl keeps the path and upstream, masks every other query value', async (t) => {
  t.equal(loggableUrl('/token/webrtc'), '/token/webrtc')
  t.equal(loggableUrl('/token/webrtc?upstream=global'), '/token/webrtc?upstream=global')
  t.equal(loggableUrl('/token/webrtc?api_key=s3cret&upstream=bandwidth'), '/token/webrtc?api_key=[redacted]&upstream=bandwidth')
  t.equal(loggableUrl('/x?token'), '/x?token=[redacted]')
})

t.test('without TRUST_PROXY an inbound X-Request-Id and X-Forwarded-For are ignored', async (t) => {
  const { app, logs } = await build(t)
  const res = await app.inject({ url: '/token/webrtc', headers: { 'x-request-id': 'from-client-1', 'x-forwarded-for': '203.0.113.9' } })
  t.equal(res.statusCode, 401)
  t.ok(logs.length > 0)
  t.not(res.headers['x-request-id'], 'from-client-1', 'a fresh id is echoed instead')
  t.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/)
  t.notMatch(logs.join('\n'), 'from-client-1')
  t.notMatch(logs.join('\n'), '203.0.113.9')
})

t.test('behind a trusted proxy a well-formed X-Request-Id is kept, a malformed one replaced', async (t) => {
  const { app, logs } = await build(t, { env: { TRUST_PROXY: 'true' } })
  // /token/webrtc logs at info (the probes log only warnings), so the request ids show up.
  await app.inject({ url: '/token/webrtc', headers: { 'x-request-id': 'abc-123_proxy', 'x-forwarded-for': '203.0.113.9' } })
  await app.inject({ url: '/token/webrtc', headers: { 'x-request-id': 'bad id with spaces' } })
  t.match(logs.join('\n'), '"reqId":"abc-123_proxy"')
  const echoed = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'echo-me-1' } })
  t.equal(echoed.headers['x-request-id'], 'echo-me-1', 'the id is echoed on the reply')
  t.notMatch(logs.join('\n'), 'bad id with spaces')
})

t.test('a TRUST_PROXY hop count decides which forwarded address is the client', async (t) => {
  const { app } = await build(t, { env: { TRUST_PROXY: '1' }, noReady: true })
  app.get('/ip', async (request) => ({ ip: request.ip }))
  await app.ready()
  const res = await app.inject({ url: '/ip', headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' } })
  t.equal(res.json().ip, '203.0.113.9', 'one trusted hop: the last forwarded address')
})
