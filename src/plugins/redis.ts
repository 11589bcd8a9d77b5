// Optional Redis (REDIS_URL) for running several replicas: one connection, its up/down state as
// `fastify.redis` (null without REDIS_URL), the shared rate-limit store's link and the shared
// token cache's hooks for the tokens plugin. Startup waits briefly for the first connection so
// prewarming can share the token, but never fails on Redis: the app starts and serves without it.
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import type { UpstreamId } from '../config/types.js'
import { RedisConnection, type RedisStatus, type RedisTimings } from '../redis/connection.js'
import { SharedTokenStore } from '../redis/token-store.js'
import type { Clock } from '../token/types.js'
import type { TokensPluginOptions } from './tokens.js'

export interface RedisPluginOptions {
  /** The tokens plugin's clock, so shared-token expiry is converted on the same clock. */
  clock?: Clock
  /** Connection timings; the defaults suit production, tests shorten them. */
  timings?: Partial<RedisTimings>
  /** Delay between looks at Redis while another replica fetches. */
  pollMs?: number
}

export interface RedisState {
  readonly status: RedisStatus
  readonly client: Redis
  isUp (): boolean
  /** The shared token cache, for the tokens plugin's options. */
  readonly tokenHooks: Required<Pick<TokensPluginOptions, 'tokenProvider' | 'onTokenUpdate'>>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Null when REDIS_URL is not set. */
    redis: RedisState | null
  }
}

export default fp<RedisPluginOptions>(async function redis (fastify, opts) {
  const { config } = fastify
  if (config.redisUrl === undefined) {
    fastify.decorate('redis', null)
    return
  }
  const connection = new RedisConnection(config.redisUrl, { logger: fastify.log, timings: opts.timings })
  const stores = new Map<UpstreamId, SharedTokenStore>()
  for (const upstream of config.upstreams) {
    stores.set(upstream.id, new SharedTokenStore({
      redis: connection,
      upstream,
      timeoutMs: config.upstreamTimeoutMs,
      clock: opts.clock,
      logger: fastify.log,
      pollMs: opts.pollMs
    }))
  }
  fastify.addHook('onClose', async function closeRedis () {
    for (const store of stores.values()) store.close()
    await connection.close()
  })

  fastify.decorate('redis', {
    get status () { return connection.status },
    client: connection.client,
    isUp: () => connection.isUp(),
    tokenHooks: {
      tokenProvider: (id) => stores.get(id)?.provide,
      onTokenUpdate: (id, token) => { stores.get(id)?.onUpdate(token) }
    }
  })
  await connection.settled()
}, { name: 'redis', fastify: '5.x', dependencies: ['config'] })
