// A credential held so that it cannot leak by accident: string conversion, JSON and
// util.inspect all print a placeholder. Only `reveal()` gives the value, so every place
// that needs the raw secret is greppable.
import { hash, timingSafeEqual } from 'node:crypto'

export const REDACTED = '[redacted]'

export class Secret {
  readonly #value: string

  constructor (value: string) {
    this.#value = value
  }

  /** The raw value. Call only where the value must go on the wire or into a key derivation. */
  reveal (): string {
    return this.#value
  }

  /** Whether both hold the same value; compares digests in constant time. */
  equals (other: Secret): boolean {
    return this === other || timingSafeEqual(sha256(this.#value), sha256(other.#value))
  }

  toString (): string {
    return REDACTED
  }

  toJSON (): string {
    return REDACTED
  }

  [Symbol.for('nodejs.util.inspect.custom')] (): string {
    return `Secret(${REDACTED})`
  }
}

/**
 * The first 16 hex digits of the SHA-256 of a credential: names it in a log line (which token a
 * caller was handed) without revealing it or allowing it to be rebuilt.
 */
export function fingerprint (value: Secret): string {
  return sha256(value.reveal()).toString('hex', 0, 8)
}

/** SHA-256 of a UTF-8 string: one native call. Comparing digests with timingSafeEqual makes a comparison length-independent. */
export function sha256 (value: string): Buffer {
  return hash('sha256', value, 'buffer')
}
