// The sweep's cross-replica lock, on the shared Redis lock (src/redis/lock.ts): one replica
// sweeps per interval. The lock is taken for one interval and is not released after a sweep: it
// marks the interval as swept, so a replica whose timer fires later in the same interval skips
// (a sweep costs a full listing of the account). It is released only when a sweep is cut short
// by shutdown, so another replica can take over at once. While Redis is down there is no lock to
// be had: the sweeper then sweeps on its own (see sweeper.ts). Loaded only with REDIS_URL.
import { logSafeCode } from '../lib/errors.js'
import { silentLogger, type Logger } from '../lib/logger.js'
import type { RedisLink } from '../redis/connection.js'
import { acquireLock, releaseLock } from '../redis/lock.js'
import type { SweepLock } from './sweeper.js'

export const SWEEP_LOCK_PREFIX = 'wts:brtc:sweep:'

export interface RedisSweepLockOptions {
  redis: RedisLink
  /** The account swept (replicas of deployments for other accounts sweep apart). */
  accountId: string
  /** How long the lock is held: one sweep interval. */
  ttlMs: number
  logger?: Logger
}

export function redisSweepLock (opts: RedisSweepLockOptions): SweepLock {
  const key = SWEEP_LOCK_PREFIX + opts.accountId
  const log = opts.logger ?? silentLogger
  let held: string | undefined
  return {
    async acquire () {
      held = undefined
      if (!opts.redis.isUp()) return 'unavailable'
      try {
        held = await acquireLock(opts.redis.client, key, opts.ttlMs)
      } catch (err) {
        log.debug({ errorClass: logSafeCode(err) }, 'brtc sweep: redis lock unavailable; sweeping on this replica')
        return 'unavailable'
      }
      return held === undefined ? 'held' : 'acquired'
    },
    async release () {
      const value = held
      held = undefined
      if (value !== undefined && opts.redis.isUp()) await releaseLock(opts.redis.client, key, value)
    }
  }
}
