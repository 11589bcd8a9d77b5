// How long to wait after a failed provider request, and how to read `Retry-After`. Pure
// functions so the schedule is exactly testable and the manager holds only state.

/** First delay after a failure. */
export const BACKOFF_BASE_MS = 1000
/** No ordinary failure waits longer than this, so service resumes within ~10 s of a recovery. */
export const BACKOFF_CAP_MS = 10_000
/** Rejected credentials are a misconfiguration: retrying fast would only hammer the provider. */
export const CREDENTIALS_RETRY_MS = 60_000
/** A provider's `Retry-After` is honoured up to this many seconds, so one bad header cannot park us for days. */
export const RETRY_AFTER_CAP_SECONDS = 600

/**
 * Delay after `failures` consecutive failures (1 = the first): 1 s doubling per failure,
 * multiplied by a jitter in [0.8, 1.2) drawn from `random`, and never above 10 s.
 */
export function backoffDelayMs (failures: number, random: () => number): number {
  // Exponent capped: 2^4 s already exceeds the cap, and 2^huge would overflow to Infinity.
  const exponent = Math.min(Math.max(failures, 1) - 1, 8)
  const base = Math.min(BACKOFF_BASE_MS * 2 ** exponent, BACKOFF_CAP_MS)
  return Math.min(BACKOFF_CAP_MS, Math.round(base * (0.8 + 0.4 * unit(random()))))
}

/** A random source outside [0, 1) (a broken injection) is clamped rather than trusted. */
function unit (value: number): number {
  return value >= 0 ? Math.min(value, 1) : 0
}

/**
 * `Retry-After` as whole seconds from `nowWallMs`, capped at RETRY_AFTER_CAP_SECONDS.
 * Accepts delta-seconds and HTTP-date; undefined when absent or unparseable; a date in the
 * past gives 0.
 */
export function parseRetryAfter (value: string | null, nowWallMs: number): number | undefined {
  if (value === null) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Math.min(Number(text), RETRY_AFTER_CAP_SECONDS)
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Math.min(Math.max(0, Math.ceil((at - nowWallMs) / 1000)), RETRY_AFTER_CAP_SECONDS)
}
