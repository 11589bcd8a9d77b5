// Time, injected so tests drive refresh, margin, backoff and cool-downs exactly. Expiry decisions
// use a monotonic clock (performance.now()), which wall-clock jumps (NTP, manual changes) cannot
// move; wall time only renders instants such as `expires_at`. Timers are capped (Node fires longer
// delays after 1 ms) and unref'd, so they never keep the process alive during shutdown.
import { MAX_TIMER_MS } from './values.js'

export type TimerHandle = unknown

export interface Clock {
  /** Monotonic milliseconds. Used for every expiry decision. */
  monotonic (): number
  /** Wall-clock epoch milliseconds. Used only to render or read absolute instants. */
  wall (): number
  /** Schedules fn after ms (clamped to [0, MAX_TIMER_MS]); the timer never holds the process open. */
  setTimer (fn: () => void, ms: number): TimerHandle
  clearTimer (handle: TimerHandle): void
}

/** Longest delay setTimeout honours (src/lib/values.ts, shared with the browser client). */
export { MAX_TIMER_MS }

/** Clamps a delay into [0, MAX_TIMER_MS]; NaN becomes 0. Shared with test clocks. */
export function clampDelay (ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0
}

export const systemClock: Clock = {
  monotonic: () => performance.now(),
  wall: () => Date.now(),
  setTimer (fn, ms) {
    const timer = setTimeout(fn, clampDelay(ms))
    timer.unref()
    return timer
  },
  clearTimer (handle) {
    clearTimeout(handle as NodeJS.Timeout)
  }
}
