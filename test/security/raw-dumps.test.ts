// Requests Node's HTTP parser refuses, sent over a real socket with valid credentials in them, at
// LOG_LEVEL=trace: an oversized header block (431), Transfer-Encoding with Content-Length (request
// smuggling), a bad character in a header. Fastify's default client-error handler would log the
// error with `rawPacket`, the request's bytes, credentials included; the service's own handler
// gives every reply the contract's error shape with the security headers and a request id, its
// one log line carries no raw bytes, and no credential appears in the logs in any encoding.
import t from 'tap'
import { API_KEY, build } from '../helpers/build.js'
import { exchange } from '../helpers/net.js'
import { createTestJwks } from '../helpers/jwks.js'
import { findLeaks } from '../helpers/leak-scan.js'
import { parsedLogs, sample } from '../helpers/output.js'

t.test('refused requests: contract replies, and no credential in any log form at trace', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app, logs } = await build(t, {
    env: { LOG_LEVEL: 'trace', AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience },
    auth: { customFetch: idp.fetch },
    noReady: true
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.equal(app.log.level, 'trace', 'at trace, where Fastify would have logged the raw bytes')
  const { port } = app.server.address() as { port: number }
  const jwt = await idp.sign({ sub: 'alice' })
  const credentials = `X-API-Key: ${API_KEY}\r\nAuthorization: Bearer ${jwt}\r\n`
  const cases: Array<[string, string, number]> = [
    ['oversized header block', `GET /token/webrtc HTTP/1.1\r\nHost: x\r\n${credentials}X-Pad: ${'p'.repeat(17 * 1024)}\r\n\r\n`, 431],
    ['Transfer-Encoding with Content-Length', `POST /token/webrtc HTTP/1.1\r\nHost: x\r\n${credentials}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ['a bad character in a header value', `GET /token/webrtc HTTP/1.1\r\nHost: x\r\n${credentials}X-Bad: a\u0001b\r\n\r\n`, 400],
    ['a header line without a colon', `GET /token/webrtc HTTP/1.1\r\nHost: x\r\n${credentials}NoColonHere\r\n\r\n`, 400]
  ]
  const before = logs.length
  for (const [name, bytes, status] of cases) {
    const reply = await exchange(port, bytes)
    const [head = '', body = ''] = reply.split('\r\n\r\n')
    t.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`)
    t.match(head, /^x-request-id: [0-9a-f-]{36}$/im, `${name}: a request id`)
    t.match(head, /^x-content-type-options: nosniff$/im, `${name}: the security headers`)
    t.match(head, /^content-security-policy: default-src 'none'/im)
    t.same(JSON.parse(body), { statusCode: status, code: 'BAD_REQUEST', error: status === 431 ? 'Request Header Fields Too Large' : 'Bad Request', message: status === 431 ? 'Request header fields too large' : 'Malformed request' }, `${name}: the contract's error shape`)
    t.notMatch(reply, API_KEY.slice(0, 12), `${name}: nothing of the request echoed`)
  }
  const lines = parsedLogs(logs.slice(before))
  const refused = lines.filter((l) => l.msg === 'request refused by the HTTP parser')
  t.equal(refused.length, cases.length, 'one line per refused request')
  t.notOk(lines.some((l) => JSON.stringify(l).includes('rawPacket') || 'err' in l), 'no error object, so no raw bytes')
  t.same(findLeaks(logs, [API_KEY, jwt, jwt.split('.')[2] as string]), [], 'no credential in any encoding')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.equal(sample(metrics, 'malformed_requests_total{reason="header_overflow"}'), 1)
  t.equal(sample(metrics, 'malformed_requests_total{reason="bad_request"}'), 3)
})

t.test('a bad percent-encoding gets the contract reply: shape, headers, request id, log line, metric', async (t) => {
  const { app, logs } = await build(t, { env: { LOG_LEVEL: 'info' } })
  const secret = 'query-secret-0123456789abcdef'
  const res = await app.inject({ url: `/x/%ZZ?k=${secret}`, headers: { 'x-api-key': API_KEY } })
  t.equal(res.statusCode, 400)
  t.same(res.json(), { statusCode: 400, code: 'BAD_REQUEST', error: 'Bad Request', message: 'Malformed request URL' })
  t.notMatch(res.body, secret, 'the query is not echoed')
  t.notMatch(res.body, '%ZZ', 'nor the path')
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['x-frame-options'], 'DENY')
  const line = parsedLogs(logs).find((l) => l.msg === 'request completed' && l.status === 400)
  t.ok(line, 'the request has its log line')
  t.equal(line?.reqId, res.headers['x-request-id'])
  t.equal(line?.code, 'FST_ERR_BAD_URL')
  t.same(findLeaks(logs, [secret, API_KEY]), [], 'neither the query value nor the key is logged')
  t.equal(sample((await app.inject({ url: '/metrics' })).body, 'malformed_requests_total{reason="bad_url"}'), 1)
})
