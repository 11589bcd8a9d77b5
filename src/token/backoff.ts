// How long to wait after a failed provider request. A pure function, so the schedule is exactly
// testable and the manager holds only state. Dependency-free (it imports only src/lib/values.ts):
// the browser client (src/client/token-client.ts) bundles backoffDelayMs too, with its own cap.
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
 * multiplied by a jitter in [0.8, 1.2) drawn once from `random`, and never above `capMs`
 * (the service's BACKOFF_CAP_MS, 10 s, unless given).
 */
export function backoffDelayMs (failures: number, random: () => number, capMs: number = BACKOFF_CAP_MS): number {
  // Exponent capped: 2^30 s exceeds any cap a timer can wait, and 2^huge would overflow to Infinity.
  const exponent = Math.min(Math.max(failures, 1) - 1, 30)
  const base = Math.min(BACKOFF_BASE_MS * 2 ** exponent, capMs)
  return Math.min(capMs, Math.round(base * (0.8 + 0.4 * clampUnit(random()))))
}
