// Rate limits on /token/webrtc: RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS per caller identity,
// and per client IP for requests whose authentication failed, so guessing keys is slow.
// One limiter with two key spaces, because @fastify/rate-limit runs at most one limiter per request.
// With REDIS_URL the counters are shared by all replicas, and local while Redis is down
// (src/redis/rate-limit-store.ts explains why that beats skipping the limit).
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import { AppError } from '../lib/errors.js'
import { sharedRateLimitStore } from '../redis/rate-limit-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook, to run after `authenticate`. */
    callerRateLimit: onRequestHookHandler
  }
}

export function rateLimitKey (request: FastifyRequest): string {
  return request.caller !== null ? `id:${request.caller.name}` : `ip:${request.ip}`
}

export default fp(async function rateLimitPlugin (fastify) {
  const { max, windowMs } = fastify.config.rateLimit
  const { redis } = fastify
  await fastify.register(rateLimit, {
    global: false,
    // The X-RateLimit-* trio only on a 429 (with Retry-After), not on every success: browsers
    // cannot read them (CORS does not expose them), and they are bytes and header checks on
    // every token reply.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    ...(redis !== null && {
      store: sharedRateLimitStore(redis, 'wts:rl:'),
      // The store already falls back to local counters; should it still fail, let the request through.
      skipOnError: true
    })
  })
  fastify.decorate('callerRateLimit', fastify.rateLimit({
    max,
    timeWindow: windowMs,
    keyGenerator: rateLimitKey,
    errorResponseBuilder (_request, context) {
      return new AppError(429, 'RATE_LIMITED', `Rate limit exceeded, retry in ${context.after}`)
    }
  }))
}, { name: 'rate-limit', fastify: '5.x', dependencies: ['config', 'redis'] })
