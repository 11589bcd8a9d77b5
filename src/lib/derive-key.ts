// Keys derived from a client secret, for uses where something derived from it is stored outside
// the process: the Redis token cache (entry name and encryption key) and the owner tags of BRTC
// endpoints. A fast hash would let anyone holding such a derived value test guesses of a weak
// secret cheaply (tens of thousands per second per core), so the secret is first stretched with
// scrypt, which is memory-hard, once per secret and purpose; the keys for each use are then
// expanded from that with HKDF. Every replica holding the same secret derives the same keys.
import { hkdfSync, scrypt } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { sha256, type Secret } from './secret.js'

/** scrypt cost: 2^15 × 8 × 128 bytes = 32 MiB and about 0.1 s per derivation on one core. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const

/** Derivations in use: one per upstream secret and purpose; a rotation adds one. */
const derived = new LRUCache<string, Promise<Buffer>>({ max: 32 })

/**
 * The 32-byte root key for `purpose` (a fixed, public label that also names the context, e.g.
 * the token URL and client id), computed once per secret and purpose, off the event loop.
 */
export async function rootKey (secret: Secret, purpose: string): Promise<Buffer> {
  // Keyed by a digest, so the cache holds no secret in a readable form beyond what the process has.
  const id = `${sha256(secret.reveal()).toString('base64')}\0${purpose}`
  let key = derived.get(id)
  if (key === undefined) {
    key = new Promise<Buffer>((resolve, reject) => {
      scrypt(secret.reveal(), `webrtc-token-service/v1/${purpose}`, 32, SCRYPT, (err, out) => { err === null ? resolve(out) : reject(err) })
    })
    derived.set(id, key)
    // A failed derivation (out of memory) is tried again next time rather than remembered.
    key.catch(() => { derived.delete(id) })
  }
  return await key
}

/** A `bytes`-long key for one use (`info`) of a root key. */
export function subKey (root: Buffer, info: string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), info, bytes))
}
