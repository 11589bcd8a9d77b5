// The application as a Fastify plugin: registers configuration, security, authentication,
// rate limits, token managers and routes. It never listens; src/server.ts boots it and tests
// register it on a fresh instance with injected clock and fetch.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Config } from './config/types.js'
import configPlugin from './plugins/config.js'
import errorHandler from './plugins/error-handler.js'
import lifecycle from './plugins/lifecycle.js'
import security from './plugins/security.js'
import auth, { type AuthPluginOptions } from './plugins/auth.js'
import rateLimit from './plugins/rate-limit.js'
import tokens, { type TokensPluginOptions } from './plugins/tokens.js'
import healthRoutes from './routes/health.js'
import tokenRoute from './routes/token.js'

export interface AppOptions {
  config: Config
  /** Test and integration seams; production passes none. */
  tokens?: TokensPluginOptions
  auth?: AuthPluginOptions
}

const app: FastifyPluginAsync<AppOptions> = async function app (fastify, opts) {
  await fastify.register(configPlugin, { config: opts.config })
  await fastify.register(lifecycle)
  await fastify.register(errorHandler)
  await fastify.register(security)
  await fastify.register(auth, opts.auth ?? {})
  await fastify.register(rateLimit)
  await fastify.register(tokens, opts.tokens ?? {})
  await fastify.register(healthRoutes)
  await fastify.register(tokenRoute)
}

export default fp(app, { name: 'app', fastify: '5.x' })
