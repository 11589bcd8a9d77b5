// GET /metrics: a Prometheus registry in the text exposition format, for scrapers. No auth, like
// the other probes; it carries no secret (labels are bounded upstream ids and outcomes). On the
// API port unless METRICS_PORT is set; then only on the METRICS_PORT listener
// (src/plugins/metrics-listener.ts), and the API port answers it 404.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { METRICS_LISTENER } from '../lib/listener-constraint.js'
import { errorReplies } from './schemas.js'

const metricsRoute: FastifyPluginAsyncTypebox = async function metricsRoute (fastify) {
  const { registry } = fastify.metrics
  // With METRICS_PORT, only that listener serves it, so the API port's OpenAPI document leaves it out.
  const elsewhere = fastify.metricsListener !== null
  fastify.get('/metrics', {
    schema: {
      ...(elsewhere && { hide: true }),
      summary: 'Prometheus metrics',
      querystring: Type.Object({}),
      response: { 200: Type.String({ description: 'Prometheus text format' }), ...errorReplies(400, 500) }
    },
    logLevel: 'warn',
    ...(elsewhere && { constraints: METRICS_LISTENER })
  }, async function scrape (_request, reply) {
    const text = await registry.metrics()
    reply.header('cache-control', 'no-store').type(registry.contentType)
    return text
  })
}

export default metricsRoute
