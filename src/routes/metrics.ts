// GET /metrics: the app's Prometheus registry in the text exposition format, for scrapers. No
// auth, like the other probes; it carries no secret (labels are bounded upstream ids and outcomes).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { errorReplies } from './schemas.js'

const metricsRoute: FastifyPluginAsyncTypebox = async function metricsRoute (fastify) {
  fastify.get('/metrics', {
    schema: {
      querystring: Type.Object({}),
      response: { 200: Type.String(), ...errorReplies(500) }
    }
  }, async function scrape (_request, reply) {
    const { registry } = fastify.metrics
    const text = await registry.metrics()
    reply.header('cache-control', 'no-store').type(registry.contentType)
    return text
  })
}

export default metricsRoute
