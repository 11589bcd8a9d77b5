// GET /metrics: a Prometheus registry in the text exposition format, for scrapers. No auth, like
// the other probes; it carries no secret (labels are bounded upstream ids and outcomes). On the
// API port unless METRICS_PORT is set; then src/server.ts serves it on that port alone, through
// this same route on a server of its own (src/metrics-server.ts), and the API port answers 404.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Registry } from 'prom-client'
import { Type } from 'typebox'
import { errorReplies } from './schemas.js'

export interface MetricsRouteOptions {
  /** The registry to serve; default: the app's (`fastify.metrics`), unless METRICS_PORT moves it elsewhere. */
  registry?: Registry
}

const metricsRoute: FastifyPluginAsyncTypebox<MetricsRouteOptions> = async function metricsRoute (fastify, opts) {
  if (opts.registry === undefined && fastify.config.metricsPort !== undefined) return
  const registry = opts.registry ?? fastify.metrics.registry
  fastify.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      querystring: Type.Object({}),
      response: { 200: Type.String({ description: 'Prometheus text format' }), ...errorReplies(500) }
    },
    logLevel: 'warn'
  }, async function scrape (_request, reply) {
    const text = await registry.metrics()
    reply.header('cache-control', 'no-store').type(registry.contentType)
    return text
  })
}

export default metricsRoute
