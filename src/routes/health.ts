// Probes. /healthz is liveness (the process answers); /readyz is readiness (listening and not
// draining) and reports each upstream's token state without anything secret. No auth: probes
// and load balancers call them.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { errorReplies } from './schemas.js'

const UpstreamStatus = Type.Object({
  state: Type.Union([Type.Literal('valid'), Type.Literal('missing'), Type.Literal('failing')]),
  secondsLeft: Type.Integer({ minimum: 0 }),
  lastError: Type.Union([Type.String(), Type.Null()])
}, { additionalProperties: false })

const ReadyReply = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('draining')]),
  upstreams: Type.Record(Type.String(), UpstreamStatus),
  /** Only with REDIS_URL. Down is not unready: the replica serves from its local cache meanwhile. */
  redis: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down')])),
  /** Stale: a changed `*_FILE` was refused and the previous values are still in force (still ready). */
  config: Type.Union([
    Type.Object({ state: Type.Literal('current') }, { additionalProperties: false }),
    Type.Object({ state: Type.Literal('stale'), variables: Type.Array(Type.String()) }, { additionalProperties: false })
  ])
}, { additionalProperties: false })

const healthRoutes: FastifyPluginAsyncTypebox = async function healthRoutes (fastify) {
  fastify.get('/healthz', {
    schema: {
      summary: 'Liveness: the process answers',
      querystring: Type.Object({}),
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false }), ...errorReplies(400, 500) }
    },
    logLevel: 'warn'
  }, async function healthz () {
    return { status: 'ok' as const }
  })

  fastify.get('/readyz', {
    schema: { summary: 'Readiness: 503 while draining; each upstream\'s token state', querystring: Type.Object({}), response: { 200: ReadyReply, 503: ReadyReply, ...errorReplies(400, 500) } },
    logLevel: 'warn'
  }, async function readyz (_request, reply) {
    const upstreams: Record<string, { state: 'valid' | 'missing' | 'failing', secondsLeft: number, lastError: string | null }> = {}
    for (const manager of fastify.tokens.all()) {
      const s = manager.state()
      upstreams[manager.id] = { state: s.state, secondsLeft: s.secondsLeft, lastError: s.lastErrorClass }
    }
    const draining = fastify.lifecycle.draining
    reply.header('cache-control', 'no-store').code(draining ? 503 : 200)
    const redis = fastify.redis === null ? {} : { redis: fastify.redis.status }
    return { status: draining ? 'draining' as const : 'ready' as const, upstreams, ...redis, config: fastify.configState() }
  })
}

export default healthRoutes
