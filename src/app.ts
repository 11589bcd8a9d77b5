// The application as a Fastify plugin: registers configuration, security, authentication,
// rate limits, token managers, metrics, the request log line and routes. It never listens;
// src/server.ts boots it and tests register it on a fresh instance with injected clock and fetch.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Config } from './config/types.js'
import configPlugin from './plugins/config.js'
import errorHandler from './plugins/error-handler.js'
import lifecycle from './plugins/lifecycle.js'
import requestId from './plugins/request-id.js'
import security from './plugins/security.js'
import auth, { type AuthPluginOptions } from './plugins/auth.js'
import redis, { type RedisPluginOptions } from './plugins/redis.js'
import rateLimit from './plugins/rate-limit.js'
import tokens, { type TokensPluginOptions } from './plugins/tokens.js'
import metrics from './plugins/metrics.js'
import { logRequest } from './server-options.js'
import healthRoutes from './routes/health.js'
import tokenRoute from './routes/token.js'
import metricsRoute from './routes/metrics.js'
import clientRoute, { type ClientRouteOptions } from './routes/client.js'

export interface AppOptions {
  config: Config
  /** Test and integration seams; production passes none. */
  tokens?: TokensPluginOptions
  auth?: AuthPluginOptions
  /** Redis connection timings (REDIS_URL); the clock is the tokens plugin's. */
  redis?: Omit<RedisPluginOptions, 'clock'>
  /** The built browser client served at /client/token-client.js (default: dist/client/). */
  client?: ClientRouteOptions
}

const app: FastifyPluginAsync<AppOptions> = async function app (fastify, opts) {
  await fastify.register(configPlugin, { config: opts.config })
  await fastify.register(lifecycle)
  fastify.addHook('onResponse', logRequest)
  await fastify.register(requestId)
  await fastify.register(errorHandler)
  await fastify.register(security)
  await fastify.register(auth, opts.auth ?? {})
  // Before rate limits and tokens, which share it (REDIS_URL); fastify.redis is null without it.
  await fastify.register(redis, { ...opts.redis, clock: opts.tokens?.clock })
  await fastify.register(rateLimit)
  await fastify.register(metrics)
  // Provider requests feed the metrics; a caller's own onFetch (a test seam) still runs too.
  const callerOnFetch = opts.tokens?.onFetch
  await fastify.register(tokens, {
    ...fastify.redis?.tokenHooks,
    ...opts.tokens,
    onFetch (upstream, outcome, durationMs) {
      fastify.metrics.recordFetch(upstream, outcome, durationMs)
      callerOnFetch?.(upstream, outcome, durationMs)
    }
  })
  await fastify.register(healthRoutes)
  await fastify.register(tokenRoute)
  await fastify.register(metricsRoute)
  await fastify.register(clientRoute, opts.client ?? {})
}

export default fp(app, { name: 'app', fastify: '5.x' })
