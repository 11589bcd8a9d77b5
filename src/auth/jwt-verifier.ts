// Verifies end-user JWTs (`Authorization: Bearer`) against the identity provider's JWKS:
// asymmetric signature, `exp`/`nbf` with a small leeway, `iss`, `aud`, a non-empty `sub`.
// Successes are cached by the token's SHA-256 until its `exp`, so the hot path does no crypto.
// A JWKS that cannot be fetched is asked again at most once per JWKS_FAILURE_COOLDOWN_MS, and
// said so in one warning per failed fetch, whatever the traffic; meanwhile the keys already held
// (a set fetched within JWKS_CACHE_MAX_AGE_MS) still verify. Every failure rejects with a
// log-safe `reason` that carries nothing from the token. Plain TypeScript: the auth plugin wraps it.
import { hash } from 'node:crypto'
import { createLocalJWKSet, createRemoteJWKSet, customFetch as customFetchOption, errors, jwtVerify } from 'jose'
import type { FetchImplementation, JWTVerifyGetKey } from 'jose'
import { LRUCache } from 'lru-cache'
import { logSafeCode } from '../lib/errors.js'
import { silentLogger, type Logger } from '../lib/logger.js'

/** Asymmetric only: refuses `alg: none` and HS* (e.g. HS256 keyed with the public key). */
export const ALLOWED_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'
] as const
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5
export const DEFAULT_CACHE_MAX = 10_000
/** Larger tokens are refused before any crypto or network. */
export const MAX_JWT_LENGTH = 8192
/**
 * After a successful JWKS fetch, an unknown `kid` may trigger a refetch only after this long.
 * Bounds refetches under a flood of forged kids, and keeps "a newly rotated key is accepted
 * within 30 s" true: worst case is this plus one fetch (≤ JWKS_TIMEOUT_MS).
 */
export const JWKS_COOLDOWN_MS = 10_000
/**
 * After a failed JWKS fetch, no other is tried for this long: requests meanwhile are verified
 * against the keys already held, and those whose key is not among them get 'jwks_unavailable'.
 */
export const JWKS_FAILURE_COOLDOWN_MS = 10_000
/** A JWKS fetch runs inside a caller's request; a hung IdP must not hold it for long. */
export const JWKS_TIMEOUT_MS = 3_000
/**
 * Keys are refetched at least this often, and a cached verification is never served for longer:
 * a key removed from the JWKS stops being accepted within this time, cache or not.
 */
export const JWKS_CACHE_MAX_AGE_MS = 600_000

export type JwtFailureReason =
  | 'malformed' | 'alg_not_allowed' | 'unknown_kid' | 'ambiguous_kid'
  /** No usable key: the JWKS could not be fetched (down, timeout, non-200, not a JWKS) or its key is unusable. Log at warn. */
  | 'jwks_unavailable'
  | 'bad_signature' | 'expired' | 'not_yet_valid' | 'wrong_issuer' | 'wrong_audience'
  | 'missing_claim' | 'invalid_claim'

/** A refused token; `reason` is a fixed, non-secret code for logs. The auth plugin answers 401. */
export class JwtVerificationError extends Error {
  readonly reason: JwtFailureReason

  constructor (reason: JwtFailureReason) {
    super(`JWT refused: ${reason}`)
    this.name = 'JwtVerificationError'
    this.reason = reason
  }
}

export interface JwtVerifierOptions {
  jwksUrl: URL
  issuer: string
  audience: string
  /** Leeway for `exp`/`nbf`, seconds. Default 5. */
  clockToleranceSeconds?: number
  /** Most verified tokens held. Default 10000. */
  cacheMax?: number
  /** Epoch milliseconds; for tests. Default Date.now. (jose's JWKS cooldown uses Date.now.) */
  now?: () => number
  /** Key getter replacing the remote JWKS; for tests. */
  jwks?: JWTVerifyGetKey
  /** fetch used for the JWKS; for tests. */
  customFetch?: FetchImplementation
  /** Where a failed JWKS fetch is reported (one warning per failure). */
  logger?: Logger
}

export interface JwtVerifier {
  /** Resolves with the token's subject, or rejects with a JwtVerificationError. */
  verify (jwt: string): Promise<{ sub: string }>
  /** The subject of a token verified before and still cached, without any crypto; else undefined. */
  cached (jwt: string): { sub: string } | undefined
  /** Forgets the fetched JWKS and every verified token (a signing key was withdrawn). */
  reset (): void
}

/** The cache key, on every request: the token's SHA-256 in base64, one native call. */
const cacheKeyOf = (jwt: string): string => hash('sha256', jwt, 'base64')

// Three non-empty base64url segments; jose checks the rest.
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/

/** Internal: carries the classification of a key-lookup failure through jwtVerify. */
class KeyLookupError extends Error {
  readonly reason: JwtFailureReason

  constructor (reason: JwtFailureReason) {
    super(reason)
    this.reason = reason
  }
}

export function createJwtVerifier (opts: JwtVerifierOptions): JwtVerifier {
  const { issuer, audience } = opts
  const now = opts.now ?? Date.now
  const clockTolerance = opts.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS
  if (issuer === '' || audience === '') throw new TypeError('JWT issuer and audience must be non-empty')
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0) throw new TypeError('clockToleranceSeconds must be a finite number ≥ 0')

  const log = opts.logger ?? silentLogger
  /** The key resolver, and the keys it holds without fetching (none for an injected resolver). */
  const remote = (): { getKey: JWTVerifyGetKey, held: () => JWTVerifyGetKey | undefined } => {
    if (opts.jwks !== undefined) return { getKey: opts.jwks, held: () => undefined }
    const set = createRemoteJWKSet(opts.jwksUrl, {
      cooldownDuration: JWKS_COOLDOWN_MS,
      timeoutDuration: JWKS_TIMEOUT_MS,
      cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
      [customFetchOption]: opts.customFetch
    })
    return {
      getKey: set,
      held () {
        const keys = set.fresh ? set.jwks() : undefined
        return keys === undefined ? undefined : createLocalJWKSet(keys)
      }
    }
  }
  let jwks = remote()
  /** The keys held when the last fetch failed, used until the cool-down ends. */
  let heldKeys: JWTVerifyGetKey | undefined
  /** Counts reset() calls, so a verification that began before one is neither trusted nor cached. */
  let generation = 0
  /** When the last JWKS fetch failed (the injected clock), or -Infinity. */
  let failedAt = -Infinity
  const getKey: JWTVerifyGetKey = async (header, token) => {
    const coolingDown = now() - failedAt < JWKS_FAILURE_COOLDOWN_MS
    const began = generation
    const resolve = coolingDown ? heldKeys : jwks.getKey
    if (resolve === undefined) throw new KeyLookupError('jwks_unavailable')
    try {
      return await resolve(header, token)
    } catch (err) {
      const reason = keyLookupReason(err)
      if (coolingDown) throw new KeyLookupError(reason === 'unknown_kid' ? 'jwks_unavailable' : reason)
      // A fetch of the key set reset() replaced says nothing of the new one: no cool-down for it.
      if (reason === 'jwks_unavailable' && began === generation) {
        // Concurrent verifications share jose's one fetch, so they fail together: warn once.
        if (now() - failedAt >= JWKS_FAILURE_COOLDOWN_MS) {
          log.warn({ reason, errorClass: logSafeCode(err), retryInSeconds: JWKS_FAILURE_COOLDOWN_MS / 1000 }, 'cannot verify JWTs: JWKS unavailable')
        }
        failedAt = now()
        heldKeys = jwks.held()
      }
      throw new KeyLookupError(reason)
    }
  }

  // Expiry is stored in the value and checked on read, rather than lru-cache's per-entry `ttl`:
  // the comparison is exact (`now < expiresAtMs`) and uses the injected clock directly, with no
  // dependence on lru-cache's staleness rounding (`ttlResolution`) or its timers. LRU order
  // alone bounds memory; an expired entry is dropped when read or evicted.
  const cache = new LRUCache<string, { sub: string, expiresAtMs: number }>({ max: opts.cacheMax ?? DEFAULT_CACHE_MAX })

  function cached (cacheKey: string, at: number): { sub: string } | undefined {
    const hit = cache.get(cacheKey)
    if (hit === undefined) return undefined
    if (at < hit.expiresAtMs) return { sub: hit.sub }
    cache.delete(cacheKey)
    return undefined
  }

  return {
    cached: (jwt) => typeof jwt === 'string' && jwt.length <= MAX_JWT_LENGTH ? cached(cacheKeyOf(jwt), now()) : undefined,
    reset () {
      cache.clear()
      jwks = remote()
      failedAt = -Infinity
      heldKeys = undefined
      generation++
    },
    verify
  }

  async function verify (jwt: unknown): Promise<{ sub: string }> {
    if (typeof jwt !== 'string' || jwt.length > MAX_JWT_LENGTH || !COMPACT_JWS.test(jwt)) {
      throw new JwtVerificationError('malformed')
    }
    const started = now()
    const cacheKey = cacheKeyOf(jwt)
    const hit = cached(cacheKey, started)
    if (hit !== undefined) return hit
    const began = generation

    let payload
    try {
      ({ payload } = await jwtVerify(jwt, getKey, {
        issuer,
        audience,
        algorithms: [...ALLOWED_ALGORITHMS],
        clockTolerance,
        currentDate: new Date(started),
        requiredClaims: ['exp', 'sub']
      }))
    } catch (err) {
      // Failed against the key set reset() replaced meanwhile: check again, against the new one.
      if (began !== generation) return await verify(jwt)
      // Never attach `err`: jose's claim errors carry the token's payload.
      throw new JwtVerificationError(failureReason(err))
    }
    // The key it was checked with may be one reset() withdrew meanwhile: check again, with the keys fetched now.
    if (began !== generation) return await verify(jwt)
    const { sub, exp } = payload
    // jose has checked that `exp` is present and a number; `typeof` narrows it for TypeScript.
    if (typeof sub !== 'string' || sub === '' || typeof exp !== 'number') {
      throw new JwtVerificationError('invalid_claim')
    }

    // Until `exp` (not `exp` + leeway), capped so a removed key's tokens age out with the JWKS.
    // A token accepted only thanks to the leeway is not cached at all.
    const expiresAtMs = Math.min(exp * 1000, started + JWKS_CACHE_MAX_AGE_MS)
    if (expiresAtMs > started) cache.set(cacheKey, { sub, expiresAtMs })
    return { sub }
  }
}

function keyLookupReason (err: unknown): JwtFailureReason {
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown_kid'
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'ambiguous_kid'
  // Fetch failed, timed out, non-200, not a JWKS, or the matching key is unusable.
  return 'jwks_unavailable'
}

function failureReason (err: unknown): JwtFailureReason {
  if (err instanceof KeyLookupError) return err.reason
  if (err instanceof errors.JWTExpired) return 'expired'
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return 'missing_claim'
    switch (err.claim) {
      case 'nbf': return 'not_yet_valid'
      case 'iss': return 'wrong_issuer'
      case 'aud': return 'wrong_audience'
      default: return 'invalid_claim'
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'alg_not_allowed'
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature'
  // JWSInvalid, JWTInvalid, ...: something wrong with the token itself.
  if (err instanceof errors.JOSEError) return 'malformed'
  // jose throws plain TypeErrors for unusable keys (e.g. an RSA key under 2048 bits in the JWKS):
  // the IdP's keys, not the caller's token, are at fault, so the operator should hear of it.
  return 'jwks_unavailable'
}
