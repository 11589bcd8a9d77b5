// /healthz and /readyz: liveness, readiness with per-upstream state, and draining on close.
import t from 'tap'
import { build, API_KEY, BANDWIDTH_SECRET, GLOBAL_SECRET } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'

t.test('/healthz is 200 without auth', async (t) => {
  const { app } = await build(t)
  const res = await app.inject('/healthz')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('/readyz reports each enabled upstream and nothing secret', async (t) => {
  const { app, provider } = await build(t, { tokens: { clock: new FakeClock() } })
  await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  await app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: { 'x-api-key': API_KEY } })
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.equal(body.status, 'ready')
  t.same(Object.keys(body.upstreams).sort(), ['bandwidth', 'global'])
  t.equal(body.upstreams.global.state, 'valid')
  t.equal(body.upstreams.global.secondsLeft, 570, '600 s token minus the 30 s margin')
  t.equal(body.upstreams.bandwidth.secondsLeft, 3590, '3600 s token minus the 10 s margin')
  t.equal(body.upstreams.global.lastError, null)
  for (const secret of [BANDWIDTH_SECRET, GLOBAL_SECRET, API_KEY, ...provider.issued]) {
    t.notMatch(res.body, secret)
  }
})

t.test('/readyz shows a failing upstream with its error class, still 200', async (t) => {
  const { app, provider } = await build(t, { noReady: true })
  provider.respond(() => new Response('nope', { status: 500 }))
  await app.ready()
  await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 200)
  t.equal(res.json().upstreams.global.state, 'failing')
  t.equal(res.json().upstreams.global.lastError, 'server_error')
  t.equal(res.json().upstreams.global.secondsLeft, 0)
})

t.test('/readyz turns 503 while draining', async (t) => {
  const { app } = await build(t)
  t.equal((await app.inject('/readyz')).statusCode, 200)
  app.lifecycle.drain()
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 503)
  t.equal(res.json().status, 'draining')
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).headers.connection, 'close', 'replies while draining close their connection')
})

t.test('close() marks the app draining before it stops', async (t) => {
  const { app } = await build(t)
  t.equal(app.lifecycle.draining, false)
  await app.close()
  t.equal(app.lifecycle.draining, true)
})

t.test('unknown routes are a 404 in the common error shape', async (t) => {
  const { app } = await build(t)
  const res = await app.inject('/nope')
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'Not Found' })
})
