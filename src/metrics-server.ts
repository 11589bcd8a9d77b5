// The server of METRICS_PORT: GET /metrics and nothing else, so operators can keep the metrics
// off the public port. src/server.ts listens on it (same HOST); it shares the app's registry.
import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import metricsRoute from './routes/metrics.js'

export async function createMetricsServer (registry: Registry): Promise<FastifyInstance> {
  const server = Fastify({ logger: false, return503OnClosing: false })
  await server.register(metricsRoute, { registry })
  server.setNotFoundHandler((_request, reply) => reply.code(404).send({ statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'Not Found' }))
  return server
}
