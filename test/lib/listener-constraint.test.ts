// The listener route constraint (src/lib/listener-constraint.ts), on its own: the strategy's
// parts (name, storage, what it derives from a marked or unmarked socket), then the promise it
// makes through Fastify's router: a request on a marked (METRICS_PORT) connection matches only
// routes constrained to METRICS_LISTENER, and a request on the API listener never does. A bare
// Fastify instance stands in for the app; its two listeners are real loopback servers, because
// the mark lives on the connection, which app.inject does not have.
import t from 'tap'
import Fastify from 'fastify'
import { createServer } from 'node:http'
import { Socket, type AddressInfo } from 'node:net'
import { listenerConstraint, markMetricsConnection, METRICS_LISTENER } from '../../src/lib/listener-constraint.js'

type DeriveRequest = Parameters<typeof listenerConstraint.deriveConstraint>[0]
const requestOn = (socket: Socket): DeriveRequest => ({ socket } as unknown as DeriveRequest)

t.test('METRICS_LISTENER is the frozen route option { listener: "metrics" }', async (t) => {
  t.same(METRICS_LISTENER, { listener: 'metrics' })
  t.ok(Object.isFrozen(METRICS_LISTENER))
  t.equal(listenerConstraint.name, 'listener', 'the key METRICS_LISTENER uses')
  t.equal(listenerConstraint.mustMatchWhenDerived, true, 'a marked request matches no unconstrained route')
})

t.test('deriveConstraint: "metrics" on a marked connection, nothing on any other', async (t) => {
  const api = new Socket()
  const metrics = new Socket()
  t.teardown(() => { api.destroy(); metrics.destroy() })
  markMetricsConnection(metrics)
  t.equal(listenerConstraint.deriveConstraint(requestOn(metrics), undefined), 'metrics')
  t.equal(listenerConstraint.deriveConstraint(requestOn(api), undefined), undefined)
  markMetricsConnection(metrics)
  t.equal(listenerConstraint.deriveConstraint(requestOn(metrics), undefined), 'metrics', 'marking twice changes nothing')
})

t.test('storage: a fresh map per router, null for what was not set', async (t) => {
  const one = listenerConstraint.storage()
  const two = listenerConstraint.storage()
  const handler = { handler: () => {} } as unknown as Parameters<typeof one.set>[1]
  t.equal(one.get('metrics'), null)
  one.set('metrics', handler)
  t.equal(one.get('metrics'), handler)
  t.equal(one.get('other'), null)
  t.equal(two.get('metrics'), null, 'stores are independent')
})

t.test('through the router: each listener reaches only its own routes', async (t) => {
  const app = Fastify({ routerOptions: { constraints: { listener: listenerConstraint } } })
  app.get('/metrics', { constraints: METRICS_LISTENER }, async () => 'metrics route')
  app.get('/token', async () => 'api route')
  app.get('/both', async () => 'both: api')
  app.get('/both', { constraints: METRICS_LISTENER }, async () => 'both: metrics')
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })

  const metricsServer = createServer(app.routing)
  metricsServer.on('connection', markMetricsConnection)
  await new Promise<void>((resolve) => metricsServer.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    metricsServer.closeAllConnections()
    await new Promise<void>((resolve) => { metricsServer.close(() => { resolve() }) })
  })

  const apiBase = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const metricsBase = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}`
  const get = async (url: string): Promise<[number, string]> => {
    const res = await fetch(url)
    return [res.status, res.status === 200 ? await res.text() : (await res.arrayBuffer(), '')]
  }

  t.same(await get(`${apiBase}/token`), [200, 'api route'])
  t.same(await get(`${apiBase}/metrics`), [404, ''], 'the API listener never matches a METRICS_LISTENER route')
  t.same(await get(`${metricsBase}/metrics`), [200, 'metrics route'])
  t.same(await get(`${metricsBase}/token`), [404, ''], 'the metrics listener matches no unconstrained route')
  t.same(await get(`${apiBase}/both`), [200, 'both: api'], 'one path, two routes: the API gets its own')
  t.same(await get(`${metricsBase}/both`), [200, 'both: metrics'], 'and the metrics listener its own')
})

t.test('through the router: app.inject, which has no marked connection, is the API listener', async (t) => {
  const app = Fastify({ routerOptions: { constraints: { listener: listenerConstraint } } })
  app.get('/metrics', { constraints: METRICS_LISTENER }, async () => 'metrics route')
  app.get('/token', async () => 'api route')
  t.teardown(async () => { await app.close() })
  t.equal((await app.inject('/metrics')).statusCode, 404)
  t.equal((await app.inject('/token')).body, 'api route')
})
