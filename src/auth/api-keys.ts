// Verifies a presented `X-API-Key` against the configured API_KEYS entries and returns the
// caller identity. Only SHA-256 digests are held, and the presented key is compared with every
// entry, fixed-length and without early exit, so timing reveals neither which entry matched nor
// the length of any stored key. Plain TypeScript: the auth plugin wraps it.
import { timingSafeEqual } from 'node:crypto'
import { MAX_API_KEY_LENGTH } from '../config/parse-api-keys.js'
import type { ApiKeyEntry } from '../config/types.js'
import { sha256 } from '../lib/secret.js'

/** Longer presented keys are refused before hashing; API_KEYS holds none longer. */
export const MAX_PRESENTED_KEY_LENGTH = MAX_API_KEY_LENGTH

// Printable ASCII (space to tilde). Anything else cannot be a configured key, and refusing it
// says nothing about the stored keys.
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/
const DIGEST_BYTES = 32

export class ApiKeyVerifier {
  readonly #entries: ReadonlyArray<{ readonly name: string, readonly digest: Buffer }>

  constructor (entries: ApiKeyEntry[]) {
    this.#entries = entries.map(({ name, sha256: digest }) => {
      if (digest.length !== DIGEST_BYTES) {
        // A config-loader bug, not caller input; the message names the identity, never the key.
        throw new TypeError(`API key entry "${name}" must hold a ${DIGEST_BYTES}-byte SHA-256 digest`)
      }
      // Copy, so that later mutation of the config's buffer cannot change what is accepted.
      return { name, digest: Buffer.from(digest) }
    })
  }

  /**
   * The identity name of the entry whose key is `presented`, or undefined.
   * If two entries share a key (a config mistake), the first one listed wins.
   */
  verify (presented: string): string | undefined {
    if (typeof presented !== 'string' || presented.length > MAX_PRESENTED_KEY_LENGTH || !PRINTABLE_ASCII.test(presented)) {
      return undefined
    }
    const digest = sha256(presented)
    let identity: string | undefined
    for (const entry of this.#entries) {
      // Always compare against every entry: no break, no short-circuit on a match.
      const equal = timingSafeEqual(digest, entry.digest)
      if (equal && identity === undefined) identity = entry.name
    }
    return identity
  }
}
