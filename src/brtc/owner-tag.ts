// Who owns a BRTC endpoint, without naming them: the endpoint's `tag` is `wts1.` followed by the
// base64url HMAC-SHA256 of the caller identity (`api_key:<name>` or `jwt:<sub>`, so the two kinds
// of caller never share a tag) under a key derived from the `bandwidth` client secret and the
// account id (scrypt, then HKDF: src/lib/derive-key.ts). Every replica, and this one after a
// restart, computes the same tag for the same caller; the provider, a log reader or anyone who
// lists the account's endpoints learns nothing about the caller from it.
//
// Rotation of the secret (a `*_FILE` reload) changes the key. The decision:
// - endpoints are always created with the tag of the current key;
// - an endpoint is recognised as a caller's when its tag is the caller's tag under the current
//   key or under one of the previous keys this process has used since it started (at most
//   MAX_KEY_GENERATIONS in all), so a rotation does not orphan a caller's endpoints here;
// - after a restart only the current key is known: endpoints tagged under an older key are owned
//   by no one (no caller can list or delete them, they do not count toward any cap) until the
//   sweep deletes them once they expire. They are never attributed to someone else: a tag is an
//   HMAC of one identity, and tags of different identities (under any keys) differ.
// Tags are compared in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { rootKey, subKey } from '../lib/derive-key.js'
import { sha256, type Secret } from '../lib/secret.js'

/** Every tag this service writes starts so; the sweep never touches an endpoint without it. */
export const TAG_PREFIX = 'wts1.'

/** Keys recognised at once: the current one and the previous ones since start. */
export const MAX_KEY_GENERATIONS = 4

/** The owner of a request, computed once per request. */
export interface Owner {
  /** The tag new endpoints get (current key). */
  readonly tag: string
  /** Every tag that is this caller's: `tag` first, then those of the previous keys, newest first. */
  readonly tags: readonly string[]
}

/** `wts1.` + base64url(HMAC-SHA256(key, identity)). */
export function ownerTag (key: Buffer, identity: string): string {
  return TAG_PREFIX + createHmac('sha256', key).update(identity, 'utf8').digest('base64url')
}

/** Whether the tag is one this service writes (the only endpoints the sweep may delete). */
export function isServiceTag (tag: string | undefined): boolean {
  return tag !== undefined && tag.startsWith(TAG_PREFIX)
}

/**
 * Whether `tag` is one of `candidates`, in time independent of where they differ: digests of
 * equal length are compared with timingSafeEqual, and every candidate is compared.
 */
export function tagMatches (tag: string | undefined, candidates: readonly string[]): boolean {
  if (tag === undefined) return false
  const digest = sha256(tag)
  let found = false
  for (const candidate of candidates) found = timingSafeEqual(sha256(candidate), digest) || found
  return found
}

interface Generation {
  /** SHA-256 of the secret, to notice a rotation without keeping the secret. */
  fingerprint: Buffer
  key: Promise<Buffer>
}

export interface OwnerKeysOptions {
  /** The `bandwidth` client secret in force, read at each use (a reload replaces it). */
  secret: () => Secret
  accountId: string
  /** Default MAX_KEY_GENERATIONS. */
  maxGenerations?: number
}

/** The tag keys: the current secret's, and those of the secrets used before it since start. */
export class OwnerKeys {
  readonly #secret: () => Secret
  readonly #purpose: string
  readonly #max: number
  /** Newest first. */
  #generations: Generation[] = []

  constructor (opts: OwnerKeysOptions) {
    this.#secret = opts.secret
    this.#purpose = `brtc-owner-tag:${opts.accountId}`
    this.#max = opts.maxGenerations ?? MAX_KEY_GENERATIONS
    if (!(this.#max >= 1)) throw new RangeError('maxGenerations must be at least 1')
  }

  /** The caller's tags: under the current key, then under each previous one. */
  async owner (identity: string): Promise<Owner> {
    const keys = await Promise.all(this.#current().map(async (g) => await g.key))
    const tags = keys.map((key) => ownerTag(key, identity))
    return { tag: tags[0] as string, tags }
  }

  /** Derives the current secret's key now (startup, after a reload), so no request waits for scrypt. */
  async warm (): Promise<void> {
    await this.#current()[0]?.key
  }

  /** How many keys are recognised now (for tests and the debug log). */
  get generations (): number {
    return this.#generations.length
  }

  /** The generations, the current secret's first; notices a rotation at the first use after it. */
  #current (): Generation[] {
    const secret = this.#secret()
    const fingerprint = sha256(secret.reveal())
    const head = this.#generations[0]
    if (head !== undefined && timingSafeEqual(head.fingerprint, fingerprint)) return this.#generations
    // A secret rotated back to one used before moves to the front rather than being derived again.
    const earlier = this.#generations.find((g) => timingSafeEqual(g.fingerprint, fingerprint))
    const generation = earlier ?? this.#derive(secret, fingerprint)
    this.#generations = [generation, ...this.#generations.filter((g) => g !== generation)].slice(0, this.#max)
    return this.#generations
  }

  #derive (secret: Secret, fingerprint: Buffer): Generation {
    const generation: Generation = {
      fingerprint,
      key: rootKey(secret, this.#purpose).then((root) => subKey(root, 'owner-tag'))
    }
    // A failed derivation (out of memory) is forgotten, so the next use tries again.
    generation.key.catch(() => { this.#generations = this.#generations.filter((g) => g !== generation) })
    return generation
  }
}
