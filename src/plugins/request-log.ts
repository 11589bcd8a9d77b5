// The one log line per request, written when the reply has gone (Fastify's own pair of lines is
// off, see src/server-options.ts): the route pattern, never the raw URL (a path or query can carry
// anything a caller typed); who the caller was (name and method), never the credential; the
// upstream asked for, bounded as for metrics; and the audit fields a route sets on
// `request.audit`: for a token handed out, the provider's token id, the first 16 hex digits of
// its SHA-256 and when the caller must stop using it; for an endpoint created or deleted, its id.
// Probes and the OpenAPI document go to the root logger at debug, so a route's own `logLevel`
// (theirs is warn) cannot hide them when debugging. Replies written before routing (a malformed
// request) get their line through `fastify.logRequest` too.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Routes that orchestrators, scrapers and API tools poll: their request lines log at debug, not info. */
const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json'])

declare module 'fastify' {
  interface FastifyRequest {
    /** Fields a route adds to the request's line (what was handed out); never a credential. */
    audit: Record<string, string> | null
  }
  interface FastifyInstance {
    /** Writes the request's one line; `extra` adds fields (a malformed request's error code). */
    logRequest: (request: FastifyRequest, reply: FastifyReply, extra?: Record<string, unknown>) => void
  }
}

export default fp(async function requestLog (fastify) {
  function logRequest (request: FastifyRequest, reply: FastifyReply, extra?: Record<string, unknown>): void {
    const route = request.routeOptions.url
    const fields: Record<string, unknown> = {
      method: request.method,
      route,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      remoteAddress: request.ip,
      ...extra
    }
    // `!= null`: a request answered before routing has none of the route's decorations.
    const { caller, upstream, audit } = request
    if (caller != null) {
      fields.caller = caller.name
      fields.authMethod = caller.method
    }
    if (request.authFailure != null) fields.authFailure = request.authFailure
    if (upstream != null) fields.upstream = upstream
    if (audit != null) Object.assign(fields, audit)
    if (route !== undefined && PROBE_ROUTES.has(route)) request.server.log.debug({ reqId: request.id, ...fields }, 'request completed')
    else request.log.info(fields, 'request completed')
  }

  fastify.decorate('logRequest', logRequest)
  fastify.decorateRequest('audit', null)
  // Synchronous (no promise per request): it runs on every request.
  fastify.addHook('onResponse', function requestCompleted (request, reply, done) {
    logRequest(request, reply)
    done()
  })
}, { name: 'request-log', fastify: '5.x', dependencies: ['auth', 'tokens'] })
