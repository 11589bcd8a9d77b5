// Server options: the logged URL masks query values, request ids are honoured only from a trusted
// proxy, and TRUST_PROXY hop counts and address lists take effect.
import t from 'tap'
import { loggableUrl, proxyTrust, REDACT_PATHS } from '../src/server-options.js'
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

t.test('an inbound X-Request-Id is kept only when the socket peer itself is a trusted proxy', async (t) => {
  const { app, logs } = await build(t, { env: { TRUST_PROXY: '10.0.0.0/8' } })
  const direct = await app.inject({ url: '/token/webrtc', remoteAddress: '203.0.113.7', headers: { 'x-request-id': 'spoofed-by-client' } })
  t.not(direct.headers['x-request-id'], 'spoofed-by-client', 'a client outside the list cannot choose its request id')
  t.notMatch(logs.join('\n'), 'spoofed-by-client')
  const proxied = await app.inject({ url: '/token/webrtc', remoteAddress: '10.1.2.3', headers: { 'x-request-id': 'from-the-proxy', 'x-forwarded-for': '198.51.100.4' } })
  t.equal(proxied.headers['x-request-id'], 'from-the-proxy', 'the listed proxy\'s id is kept')
  t.match(logs.join('\n'), /"reqId":"from-the-proxy".*"remoteAddress":"198\.51\.100\.4"/)
})

t.test('TRUST_PROXY=0 trusts no hop: neither the forwarded address nor the request id', async (t) => {
  const { app } = await build(t, { env: { TRUST_PROXY: '0' }, noReady: true })
  app.get('/ip', async (request) => ({ ip: request.ip }))
  await app.ready()
  const res = await app.inject({ url: '/ip', remoteAddress: '192.0.2.8', headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'zero-hops' } })
  t.equal(res.json().ip, '192.0.2.8')
  t.not(res.headers['x-request-id'], 'zero-hops')
})

t.test('proxyTrust: true, hop counts and address lists', async (t) => {
  t.ok(proxyTrust(true)('203.0.113.9', 5))
  const twoHops = proxyTrust(2)
  t.same([0, 1, 2].map((hop) => twoHops('203.0.113.9', hop)), [true, true, false])
  const list = proxyTrust(['10.0.0.0/8', '2001:db8::1'])
  t.ok(list('10.200.0.1', 0))
  t.ok(list('2001:db8::1', 0))
  t.notOk(list('11.0.0.1', 0))
  t.notOk(list('', 0), 'a socket that has no address any more is not trusted')
})

t.test('a value at any REDACT_PATHS entry never reaches a log line', async (t) => {
  const { app, logs } = await build(t)
  for (const [i, path] of REDACT_PATHS.entries()) {
    // 'headers["x-api-key"]' → ['headers', 'x-api-key']
    const keys = [...path.matchAll(/([^.[\]"]+)/g)].map((m) => m[1] as string)
    const secret = `redact-me-${i}-0123456789abcdef`
    const object = keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), secret) as Record<string, unknown>
    // Under `req` and `res` the serializers drop the headers too; elsewhere only redaction hides the value.
    const [top = ''] = keys
    // The req serializer reads a request's method, url and ip.
    if (top === 'req') Object.assign(object.req as object, { method: 'GET', url: '/x', ip: '192.0.2.1' })
    app.log.info(object, `redaction ${i}`)
    const line = logs.find((l) => l.includes(`"msg":"redaction ${i}"`))
    t.ok(line, `${path}: logged`)
    t.notMatch(line, secret, `${path}: the value never appears`)
    if (top !== 'req' && top !== 'res') t.match(line, '[redacted]', `${path}: replaced by the placeholder`)
  }
})
