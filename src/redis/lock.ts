// A best-effort distributed lock so that one replica, not all of them, fetches a token:
// SET key <random value> NX PX ttl, released only by its owner through an atomic Lua
// compare-and-delete (a late owner whose lock expired cannot delete the next owner's lock).
// The lock only saves provider requests: losing it, or it expiring early, costs at most one
// extra fetch, never a wrong token, because every token still comes from the provider.
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'

const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

/** The owner's unique value when the lock was taken, undefined when someone else holds it. */
export async function acquireLock (client: Redis, key: string, ttlMs: number): Promise<string | undefined> {
  const value = randomBytes(16).toString('hex')
  const reply = await client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')
  return reply === 'OK' ? value : undefined
}

/** Deletes the lock only if it still holds `value`; true when it did. */
export async function releaseLock (client: Redis, key: string, value: string): Promise<boolean> {
  return await client.eval(RELEASE_SCRIPT, 1, key, value) === 1
}
