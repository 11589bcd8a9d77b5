// HTTP hardening: helmet's headers on every reply, and CORS only for the exact origins in
// CORS_ORIGINS (none configured means no CORS headers at all, so browsers block cross-origin reads).
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'

export default fp(async function security (fastify) {
  await fastify.register(helmet, {
    // A JSON API: nothing here is a document that needs a permissive policy.
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    // Let allowed origins read responses with CORS; CORP would otherwise block no-cors loads only.
    crossOriginResourcePolicy: { policy: 'same-site' }
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
