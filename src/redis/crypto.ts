// Encryption of cached tokens at rest in Redis, so that Redis access alone yields no usable
// token: AES-256-GCM under a key derived (HKDF-SHA256) from that upstream's own client secret.
// The Redis key is a hash of (token URL, client id, scope), so no key names a client either.
// Only a replica holding the same client secret can read an entry; any other reads a cache miss.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import type { Secret } from '../lib/secret.js'

/** Fixed, public application salt (HKDF's salt need not be secret; it separates this use). */
const HKDF_SALT = 'webrtc-token-service/redis-token-cache'
const HKDF_INFO_PREFIX = 'webrtc-token-cache:v1:'
const IV_BYTES = 12
const TAG_BYTES = 16
export const ENVELOPE_VERSION = 1

/** Stable, non-secret id of one upstream: sha256 hex of (token URL, client id, scope). */
export function tokenKeyId (tokenUrl: URL | string, clientId: string, scope: string | undefined): string {
  // JSON keeps the three fields apart, whatever characters they contain.
  return createHash('sha256').update(JSON.stringify([String(tokenUrl), clientId, scope ?? null]), 'utf8').digest('hex')
}

/** What Redis stores: base64 fields of one AES-256-GCM encryption. */
interface Envelope {
  v: number
  iv: string
  tag: string
  ct: string
}

export class TokenCipher {
  readonly keyId: string
  readonly #key: Buffer
  readonly #aad: Buffer

  constructor (clientSecret: Secret, keyId: string) {
    this.keyId = keyId
    this.#key = Buffer.from(hkdfSync('sha256', clientSecret.reveal(), HKDF_SALT, HKDF_INFO_PREFIX + keyId, 32))
    // Binding the key id means an entry copied under another upstream's key fails to decrypt.
    this.#aad = Buffer.from(keyId, 'utf8')
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
