// Encryption of cached tokens at rest in Redis, so that Redis access alone yields no usable
// token: AES-256-GCM under a key derived from that upstream's client secret (src/lib/derive-key.ts:
// scrypt, then HKDF). The entry's name is derived from the same root, so no key names a client and
// a rotated secret moves to a new entry. Only a replica holding the same secret finds and reads
// an entry; any other reads a cache miss.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { rootKey, subKey } from '../lib/derive-key.js'
import type { Secret } from '../lib/secret.js'

const IV_BYTES = 12
const TAG_BYTES = 16
export const ENVELOPE_VERSION = 2

/** What Redis stores: base64 fields of one AES-256-GCM encryption. */
interface Envelope {
  v: number
  iv: string
  tag: string
  ct: string
}

export class TokenCipher {
  /** Names the Redis entry: hex, derived from the secret and the upstream's public settings. */
  readonly keyId: string
  readonly #key: Buffer
  readonly #aad: Buffer

  private constructor (root: Buffer) {
    this.keyId = subKey(root, 'token-cache-entry-name', 16).toString('hex')
    this.#key = subKey(root, 'token-cache-aes-256-gcm')
    // Binding the entry name means an entry copied under another name fails to decrypt.
    this.#aad = Buffer.from(this.keyId, 'utf8')
  }

  /** The cipher for one upstream's credentials; `context` (token URL, client id, scope) separates upstreams that share a secret. */
  static async create (clientSecret: Secret, context: readonly unknown[]): Promise<TokenCipher> {
    return new TokenCipher(await rootKey(clientSecret, `redis-token-cache:${JSON.stringify(context)}`))
  }

  /** A fresh random IV on every call; returns the JSON envelope to store. */
  encrypt (plaintext: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(this.#aad)
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    const envelope: Envelope = {
      v: ENVELOPE_VERSION,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64')
    }
    return JSON.stringify(envelope)
  }

  /** The plaintext, or undefined for anything that is not our authentic envelope (wrong key, tampered, garbage). */
  decrypt (stored: string): string | undefined {
    const envelope = parseEnvelope(stored)
    if (envelope === undefined) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, envelope.iv, { authTagLength: TAG_BYTES })
      decipher.setAAD(this.#aad)
      decipher.setAuthTag(envelope.tag)
      return Buffer.concat([decipher.update(envelope.ct), decipher.final()]).toString('utf8')
    } catch {
      return undefined
    }
  }
}

function parseEnvelope (stored: string): { iv: Buffer, tag: Buffer, ct: Buffer } | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(stored)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const { v, iv, tag, ct } = parsed as Partial<Envelope>
  if (v !== ENVELOPE_VERSION || typeof iv !== 'string' || typeof tag !== 'string' || typeof ct !== 'string') return undefined
  const ivBytes = Buffer.from(iv, 'base64')
  const tagBytes = Buffer.from(tag, 'base64')
  if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) return undefined
  return { iv: ivBytes, tag: tagBytes, ct: Buffer.from(ct, 'base64') }
}
