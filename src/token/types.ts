// Shapes shared by the token manager and its users. Plain TypeScript, no Fastify.
import type { Secret } from '../lib/secret.js'
import type { UpstreamErrorClass } from '../lib/errors.js'

/** Time source, injected so tests can drive refresh, margin and backoff deterministically. */
export interface Clock {
  /** Monotonic milliseconds (performance.now() in production). Used for every expiry decision. */
  monotonic (): number
  /** Wall-clock epoch milliseconds (Date.now()). Used only to render `expires_at`. */
  wall (): number
  /** Schedules fn after ms. Implementations cap ms at 2^31-1 and unref the timer. */
  setTimer (fn: () => void, ms: number): TimerHandle
  clearTimer (handle: TimerHandle): void
}
export type TimerHandle = unknown

/** A token as obtained from the provider (or from a shared store via tokenProvider). */
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

/** What a caller of /token/webrtc receives, computed at serve time. */
export interface IssuedToken {
  accessToken: Secret
  tokenType: 'Bearer'
  /** Whole seconds until the caller must stop using it (expiry minus margin, from now); ≥ 1. */
  expiresIn: number
  /** That instant, ISO 8601 UTC. */
  expiresAt: string
  upstream: string
}

export type UpstreamStateName = 'valid' | 'missing' | 'failing'

/** Non-secret status for /readyz and metrics. */
export interface UpstreamState {
  state: UpstreamStateName
  /** Seconds the cached token remains servable (before its margin); 0 if none. */
  secondsLeft: number
  lastErrorClass: UpstreamErrorClass | null
}

/** Outcome of one provider request, for metrics and logs. */
export type FetchOutcome = 'success' | UpstreamErrorClass

/** Pino-compatible subset, so the manager can log without depending on Fastify. */
export interface Logger {
  debug (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}
