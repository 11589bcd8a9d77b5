// A credential held so that it cannot leak by accident: string conversion, JSON and
// util.inspect all print a placeholder. Only `reveal()` gives the value, so every place
// that needs the raw secret is greppable.
import { createHash } from 'node:crypto'

export const REDACTED = '[redacted]'

export class Secret {
  readonly #value: string

  constructor (value: string) {
    this.#value = value
  }

  /** The raw value. Call only where the value must go on the wire. */
  reveal (): string {
    return this.#value
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

/** SHA-256 digest of a UTF-8 string. Comparing digests (timingSafeEqual) makes a comparison length-independent. */
export function sha256 (value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}
