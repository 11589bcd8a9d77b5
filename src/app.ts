// The application as a Fastify plugin, and its table of contents: each line registers one thing,
// in the order a request meets them. It never listens; src/server.ts boots it, and tests register
// it on a fresh instance with an injected clock and fetch.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Config } from './config/types.js'
import configPlugin, { type ConfigPluginOptions } from './plugins/config.js'
import lifecycle from './plugins/lifecycle.js'
import metrics from './plugins/metrics.js'
import security from './plugins/security.js'
import redis, { type RedisPluginOptions } from './plugins/redis.js'
import rateLimit from './plugins/rate-limit.js'
import auth, { type AuthPluginOptions } from './plugins/auth.js'
import tokens, { type TokensPluginOptions } from './plugins/tokens.js'
import brtc, { type BrtcPluginOptions } from './plugins/brtc.js'
import requestLog from './plugins/request-log.js'
import errorHandler from './plugins/error-handler.js'
import metricsListener from './plugins/metrics-listener.js'
import openapi from './plugins/openapi.js'
import healthRoutes from './routes/health.js'
import tokenRoute from './routes/token.js'
import endpointRoutes from './routes/endpoints.js'
import metricsRoute from './routes/metrics.js'
import clientRoute, { type ClientRouteOptions } from './routes/client.js'

export interface AppOptions {
  config: Config
  /** Re-read the `*_FILE` files while running (src/server.ts passes its startup environment and reads). */
  reload?: ConfigPluginOptions['reload']
  /** Test and integration seams; production passes none. */
  tokens?: TokensPluginOptions
  auth?: AuthPluginOptions
  redis?: RedisPluginOptions
  /** Per-user endpoint tokens: the clock (default: the tokens'), fetch and list page size. */
  brtc?: BrtcPluginOptions
  /** The built browser client served at /client/token-client.js (default: dist/client/). */
  client?: ClientRouteOptions
}

const app: FastifyPluginAsync<AppOptions> = async function app (fastify, opts) {
  await fastify.register(lifecycle)
  await fastify.register(metrics)
  await fastify.register(configPlugin, { config: opts.config, reload: opts.reload })
  await fastify.register(security)
  await fastify.register(redis, opts.redis ?? {})
  await fastify.register(rateLimit)
  await fastify.register(auth, opts.auth ?? {})
  await fastify.register(tokens, opts.tokens ?? {})
  await fastify.register(requestLog)
  await fastify.register(errorHandler)
  await fastify.register(metricsListener)
  await fastify.register(openapi)
  await fastify.register(healthRoutes)
  await fastify.register(brtc, { clock: opts.tokens?.clock, ...opts.brtc })
  await fastify.register(tokenRoute)
  await fastify.register(endpointRoutes)
  await fastify.register(metricsRoute)
  await fastify.register(clientRoute, opts.client ?? {})
}

export default fp(app, { name: 'app', fastify: '5.x' })
