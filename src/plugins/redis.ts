// Optional Redis (REDIS_URL) for running several replicas: one connection, shared by the rate
// limiter, the tokens' shared source and the BRTC cap and sweep lock, as `fastify.redis` (null
// without REDIS_URL), and its `redis_up` gauge. ioredis is loaded only when REDIS_URL is set.
// Startup waits briefly for the first connection so prewarming can share the token, but never fails
// on Redis: the app starts and serves without it.
import fp from 'fastify-plugin'
import type { RedisConnection, RedisTimings } from '../redis/connection.js'

export interface RedisPluginOptions {
  /** Connection timings; the defaults suit production, tests shorten them. */
  timings?: Partial<RedisTimings>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Null when REDIS_URL is not set. */
    redis: RedisConnection | null
  }
}

export default fp<RedisPluginOptions>(async function redis (fastify, opts) {
  const url = fastify.config.redisUrl
  if (url === undefined) {
    fastify.decorate('redis', null)
    return
  }
  const { RedisConnection } = await import('../redis/connection.js')
  const connection = new RedisConnection(url, { logger: fastify.log, timings: opts.timings })
  fastify.decorate('redis', connection)
  fastify.configUpdates.on('updated', (config, changed) => {
    if (changed.includes('REDIS_URL') && config.redisUrl !== undefined) connection.reconnect(config.redisUrl)
  })
  fastify.metrics.gauge('redis_up', '1 when the Redis connection (REDIS_URL) is ready for commands, else 0.', [], (set) => {
    set(connection.isUp() ? 1 : 0)
  })
  fastify.addHook('onClose', async function closeRedis () {
    await connection.close()
  })
  await connection.settled()
}, { name: 'redis', fastify: '5.x', dependencies: ['config', 'metrics'] })
