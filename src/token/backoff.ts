// How long to wait after a failed provider request. A pure function, so the schedule is exactly
// testable and the manager holds only state.
import { clampUnit } from '../lib/values.js'

/** First delay after a failure. */
export const BACKOFF_BASE_MS = 1000
/** No ordinary failure waits longer than this, so service resumes within ~10 s of a recovery. */
export const BACKOFF_CAP_MS = 10_000
/** Rejected credentials are a misconfiguration: retrying fast would only hammer the provider. */
export const CREDENTIALS_RETRY_MS = 60_000
/** A provider's `Retry-After` (token and BRTC requests) is honoured up to this, so one bad header cannot black an upstream out. */
export const RETRY_AFTER_CAP_MS = 60_000

/**
 * Delay after `failures` consecutive failures (1 = the first): 1 s doubling per failure,
 * multiplied by a jitter in [0.8, 1.2) drawn from `random`, and never above 10 s.
 */
export function backoffDelayMs (failures: number, random: () => number): number {
  // Exponent capped: 2^4 s already exceeds the cap, and 2^huge would overflow to Infinity.
  const exponent = Math.min(Math.max(failures, 1) - 1, 8)
  const base = Math.min(BACKOFF_BASE_MS * 2 ** exponent, BACKOFF_CAP_MS)
  return Math.min(BACKOFF_CAP_MS, Math.round(base * (0.8 + 0.4 * clampUnit(random()))))
}
