// The token domain's vocabulary: a token as a source delivers it, what a caller is handed, the
// TokenSource interface every link of a source chain implements, and the classified failure a
// source rejects with. Plain TypeScript, no Fastify.
import type { Secret } from '../lib/secret.js'
import type { UpstreamErrorClass } from '../lib/errors.js'

/** A token as a source delivers it (from the provider, or from a replica through Redis). */
export interface UpstreamToken {
  accessToken: Secret
  tokenType: 'Bearer'
  /** Provider's `access_token_id`, if it sent one. Not secret; loggable. */
  tokenId: string | undefined
  /** Lifetime the provider granted, seconds. */
  expiresInSeconds: number
  /** Monotonic ms at which the token expires (clock read before the request was sent). */
  expiresAtMonotonic: number
}

/**
 * One link of an upstream's source chain: the provider client, or a store that wraps another
 * source (the Redis shared cache). The token manager calls `fetch` at most once at a time.
 */
export interface TokenSource {
  /**
   * A token with life left. `last` is the token the manager holds, so that a store hands back a
   * newer one only; `signal` aborts the attempt (shutdown). Rejects with an UpstreamFetchError,
   * or anything else, which the manager counts as a network failure.
   */
  fetch (last: UpstreamToken | undefined, signal: AbortSignal): Promise<UpstreamToken>
}

/** What a caller of /token/webrtc receives, computed at serve time, plus its audit fields. */
export interface IssuedToken {
  accessToken: Secret
  tokenType: 'Bearer'
  /** Whole seconds until the caller must stop using it (expiry minus margin, from now, rounded down); ≥ 1. */
  expiresIn: number
  /** The instant the caller must stop using it, ISO 8601 UTC: the same for every caller of one token. */
  expiresAt: string
  upstream: string
  /** The provider's `access_token_id`, when it gave one. */
  tokenId: string | undefined
  /** First 16 hex digits of the SHA-256 of the access token: names it in logs without revealing it. */
  tokenSha256: string
}

export type UpstreamStateName = 'valid' | 'missing' | 'failing'

/** Non-secret status for /readyz and metrics. */
export interface UpstreamState {
  state: UpstreamStateName
  /** Seconds the cached token remains servable (before its margin); 0 if none. */
  secondsLeft: number
  lastErrorClass: UpstreamErrorClass | null
}

/** Outcome of one provider request, for metrics. */
export type FetchOutcome = 'success' | UpstreamErrorClass

/** A failed attempt, classified. Its message never carries a response body, a secret or a token. */
export class UpstreamFetchError extends Error {
  readonly errorClass: UpstreamErrorClass
  /** How long the provider asked us to wait (its `Retry-After`, capped), ms. */
  readonly retryAfterMs: number | undefined
  readonly status: number | undefined

  constructor (errorClass: UpstreamErrorClass, message: string, details: { status?: number, retryAfterMs?: number } = {}) {
    super(message)
    this.name = 'UpstreamFetchError'
    this.errorClass = errorClass
    this.status = details.status
    this.retryAfterMs = details.retryAfterMs
  }
}
