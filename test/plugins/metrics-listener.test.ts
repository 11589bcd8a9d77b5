// The METRICS_PORT listener, over real sockets (its wire is what is tested): GET /metrics from the
// app's own registry and nothing else; replies with the security headers, a request id and the
// contract's error shape, also for what Fastify or Node's parser refuses, echoing nothing; and a
// close that ends an idle connection at once instead of waiting for it.
import t from 'tap'
import { once } from 'node:events'
import { connect, type AddressInfo } from 'node:net'
import { API_KEY, build } from '../helpers/build.js'
import { exchange } from '../helpers/net.js'
import { sample } from '../helpers/output.js'

t.test('without METRICS_PORT there is no listener', async (t) => {
  const { app } = await build(t)
  t.equal(app.metricsListener, null)
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 200, '/metrics stays on the API port')
})

t.test('the listener serves GET /metrics of the app, and nothing else, as the API port would', async (t) => {
  const { app, logs } = await build(t, { env: { METRICS_PORT: '9464', LOG_LEVEL: 'debug' } })
  const listener = app.metricsListener
  if (listener === null) throw new Error('no listener with METRICS_PORT set')
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const { port } = listener.address() as AddressInfo
  const base = `http://127.0.0.1:${port}`
  await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })

  const scrape = await fetch(`${base}/metrics`)
  t.equal(scrape.status, 200)
  t.match(scrape.headers.get('content-type'), /^text\/plain/)
  t.equal(scrape.headers.get('cache-control'), 'no-store')
  t.equal(scrape.headers.get('x-content-type-options'), 'nosniff', 'the security headers')
  t.match(scrape.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'a request id')
  t.equal(sample(await scrape.text(), 'token_requests_total{upstream="global",outcome="served"}'), 1, "the app's own registry")
  t.match(logs.join('\n'), /"route":"\/metrics","status":200/, 'its request line (at debug, as a probe)')

  for (const path of ['/token/webrtc', '/healthz', '/openapi.json', '/nothing']) {
    const res = await fetch(`${base}${path}`, { headers: { 'x-api-key': API_KEY } })
    t.equal(res.status, 404, `${path}: not on this port`)
    t.same(await res.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'Not Found' })
  }

  const badUrl = await exchange(port, 'GET /metrics%zz?k=secret-query-value HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.match(badUrl, /^HTTP\/1\.1 400 /, 'a bad percent-encoding: 400')
  t.match(badUrl, /^x-request-id: [0-9a-f-]{36}$/im)
  t.match(badUrl, /"code":"BAD_REQUEST"/)
  t.notMatch(badUrl, 'secret-query-value', 'nothing of the request echoed')

  const badHeader = await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n')
  t.match(badHeader, /^HTTP\/1\.1 400 /, "what Node's parser refuses: 400")
  t.match(badHeader, /^x-content-type-options: nosniff$/im)
  t.match(badHeader, /\{"statusCode":400,"code":"BAD_REQUEST","error":"Bad Request","message":"Malformed request"\}$/)
  t.match(logs.join('\n'), /request refused by the HTTP parser/)
})

t.test('closing the app ends an idle connection to the listener at once', async (t) => {
  const { app } = await build(t, { env: { METRICS_PORT: '9464' } })
  const listener = app.metricsListener
  if (listener === null) throw new Error('no listener with METRICS_PORT set')
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const idle = connect((listener.address() as AddressInfo).port, '127.0.0.1')
  idle.on('error', () => {})
  await once(idle, 'connect')
  const closed = once(idle, 'close')
  // Without draining it, close() would wait for this connection until its socket timeout.
  await app.close()
  await closed
  t.ok(idle.destroyed, 'the server ended the connection that never sent a byte')
  t.notOk(listener.listening, 'the listener is closed')
})
