// HTTP hardening: helmet's headers on every reply, and CORS only for the exact origins in
// CORS_ORIGINS (none configured means no CORS headers at all, so browsers block cross-origin reads).
//
// Why `helmet` and not `@fastify/helmet`: the Fastify wrapper calls `helmet(options)` inside
// its onRequest hook on every request, re-parsing the CSP directives each time (about 10 % of
// the service's CPU under load, measured with `npm run bench -- --profile api-key`), and adds
// an async hook per request. Our options are static, so helmet's own middleware runs once, here
// at startup, against a recorder; every reply then gets that fixed set of headers from one
// synchronous hook. What the headers say is still entirely helmet's.
import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import helmet, { type HelmetOptions } from 'helmet'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** A JSON API: nothing here is a document that needs a permissive policy. */
export const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  // Only these two directives: helmet's defaults would add allowances for fonts, images, styles
  // and scripts that `default-src 'none'` already forbids better, and bytes to every reply.
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  // Let allowed origins read responses with CORS; CORP would otherwise block no-cors loads only.
  crossOriginResourcePolicy: { policy: 'same-site' }
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
  // Synchronous; since helmet 8.1 a bad option throws here instead of reaching `next`.
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return Object.freeze(headers)
}

export default fp(async function security (fastify) {
  const headers = helmetHeaders(HELMET_OPTIONS)
  // An app-wide onRequest hook registered before auth and rate limits, so even a refused
  // request's reply carries them; the error handler keeps headers already set.
  fastify.addHook('onRequest', function securityHeaders (_request, reply, done) {
    reply.headers(headers)
    done()
  })

  const origins = fastify.config.corsOrigins
  if (origins.length > 0) {
    const allowed = new Set(origins)
    await fastify.register(cors, {
      // Exact match only: no wildcards, no regexes, no reflection of unknown origins.
      origin: (origin, cb) => { cb(null, origin !== undefined && allowed.has(origin)) },
      methods: ['GET'],
      allowedHeaders: ['Authorization', 'X-API-Key'],
      exposedHeaders: ['Retry-After', 'X-Request-Id'],
      credentials: false,
      maxAge: 600,
      strictPreflight: true
    })
  }
}, { name: 'security', fastify: '5.x', dependencies: ['config'] })
