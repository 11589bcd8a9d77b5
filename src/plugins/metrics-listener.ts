// The METRICS_PORT listener, as `fastify.metricsListener`: null unless METRICS_PORT is set; then
// an HTTP server whose requests this same app answers (`fastify.routing`), so a reply there is
// like one on the API port: the security headers and request id, the contract's error shape for
// what Fastify or Node's HTTP layer refuses (a missing Host, an unsupported Expect and CONNECT
// too), the log line, the same timeouts, and a shutdown that ends its idle connections at once.
// Only routes constrained to it (GET /metrics) match there, and the API port never matches those
// (src/lib/listener-constraint.ts). src/server.ts listens on it.
import fp from 'fastify-plugin'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { markMetricsConnection } from '../lib/listener-constraint.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The METRICS_PORT server (src/server.ts makes it listen), or null without METRICS_PORT. */
    metricsListener: Server | null
  }
}

export default fp(async function metricsListener (fastify) {
  if (fastify.config.metricsPort === undefined) {
    fastify.decorate('metricsListener', null)
    return
  }
  // The API server's limits and timeouts, as src/server-options.ts set them through Fastify.
  const api = fastify.server
  // (Node bounds the request head by requestTimeout too: headersTimeout defaults to at most it.)
  // requireHostHeader: false, as on the API server: the app refuses a request without Host itself.
  const server = createServer({ requestTimeout: api.requestTimeout, keepAliveTimeout: api.keepAliveTimeout, requireHostHeader: false }, fastify.routing)
  server.setTimeout(api.timeout)
  server.maxRequestsPerSocket = api.maxRequestsPerSocket
  server.on('connection', markMetricsConnection)
  // Node types the socket as a Duplex; on an HTTP server it is the connection's net.Socket.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => { fastify.replyClientError(err, socket as Socket) })
  fastify.refuseUnsupported(server)
  fastify.lifecycle.track(server)

  fastify.addHook('preClose', async function closeMetricsListener () {
    // Draining ends its idle connections, now and as its last responses go.
    fastify.lifecycle.drain()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  })
  fastify.decorate('metricsListener', server)
}, { name: 'metrics-listener', fastify: '5.x', dependencies: ['config', 'lifecycle', 'error-handler'] })
