// The headers every reply carries: helmet's hardening headers and `X-Request-Id`, set by one
// synchronous onRequest hook registered before authentication, so refusals carry them too (the
// error handler keeps headers already set); and CORS only for the exact origins in CORS_ORIGINS
// (none configured means no CORS headers at all, so browsers block cross-origin reads).
// `fastify.replyHeaders(request)` gives the same set to the replies written before routing.
//
// Why `helmet` and not `@fastify/helmet`: the Fastify wrapper calls `helmet(options)` inside its
// onRequest hook on every request, re-parsing the CSP directives each time, and adds an async
// hook per request. Our options are static, so helmet's own middleware runs once, here at
// startup, against a recorder; what the headers say is still entirely helmet's.
//
// The request id is generated per request, or taken from a trusted proxy (src/server-options.ts),
// so it never carries caller-controlled data unchecked.
import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import helmet, { type HelmetOptions } from 'helmet'
import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * A JSON API, not a document: the headers that protect an API's responses (OWASP's REST security
 * headers: a `frame-ancestors 'none'` CSP, `nosniff`, no framing, HSTS, no referrer; and CORP, so
 * no other site can embed a response) and none of those that only protect documents a browser
 * renders: Cross-Origin-Opener-Policy and Origin-Agent-Cluster (windows and agent clusters),
 * X-DNS-Prefetch-Control (links in a page), X-Download-Options (IE's open-in-place),
 * X-Permitted-Cross-Domain-Policies (Flash and PDF plugins) and X-XSS-Protection (a filter
 * browsers removed). `Cache-Control: no-store` is set by the routes that hand out credentials.
 */
export const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  // Only these two directives: helmet's defaults would add allowances for fonts, images, styles
  // and scripts that `default-src 'none'` already forbids better, and bytes to every reply.
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  // Let allowed origins read responses with CORS; CORP would otherwise block no-cors loads only.
  crossOriginResourcePolicy: { policy: 'same-site' },
  xFrameOptions: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false
}

/**
 * The headers helmet sets for `options`, as lower-case name → value: helmet's middleware run
 * once against a response that only records them.
 */
export function helmetHeaders (options: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {}
  const recorder = {
    // helmet only ever sets single string values.
    setHeader (name: string, value: string) {
      headers[name.toLowerCase()] = value
      return recorder
    },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  // Synchronous; a bad option throws here (helmet ≥ 8.1) rather than reaching `next`.
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return Object.freeze(headers)
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every header a reply of this service carries, for a request with this id. */
    replyHeaders: (requestId: string) => Record<string, string>
  }
}

export default fp(async function security (fastify) {
  const headers = helmetHeaders(HELMET_OPTIONS)
  fastify.decorate('replyHeaders', (requestId: string) => ({ ...headers, 'x-request-id': requestId }))
  fastify.addHook('onRequest', function replyHeaders (request, reply, done) {
    reply.headers(headers).header('x-request-id', request.id)
    done()
  })

  const origins = fastify.config.corsOrigins
  if (origins.length > 0) {
    const allowed = new Set(origins)
    await fastify.register(cors, {
      // Exact match only: no wildcards, no regexes, no reflection of unknown origins.
      origin: (origin, cb) => { cb(null, origin !== undefined && allowed.has(origin)) },
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type'],
      exposedHeaders: ['Retry-After', 'X-Request-Id'],
      credentials: false,
      maxAge: 600,
      // An OPTIONS without Access-Control-Request-Method is answered like a preflight (204, the
      // same headers) rather than with @fastify/cors's plain-text 400, which is not the
      // service's error shape; it tells an allowed origin nothing a preflight would not.
      strictPreflight: false
    })
  }
}, { name: 'security', fastify: '5.x', dependencies: ['config'] })
