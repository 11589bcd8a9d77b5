// The production Clock. Expiry, refresh and backoff decisions use performance.now(), which
// wall-clock jumps (NTP, manual changes) cannot move; Date.now() only renders `expires_at`.
// Timers are capped (Node fires longer delays after 1 ms) and unref'd so they never keep the
// process alive during shutdown.
import type { Clock, TimerHandle } from './types.js'

/** Longest delay setTimeout honours; Node treats anything larger as 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** Clamps a delay into [0, MAX_TIMER_MS]; NaN becomes 0. Shared with test clocks. */
export function clampDelay (ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0
}

export const systemClock: Clock = {
  monotonic: () => performance.now(),
  wall: () => Date.now(),
  setTimer (fn: () => void, ms: number): TimerHandle {
    const timer = setTimeout(fn, clampDelay(ms))
    timer.unref()
    return timer
  },
  clearTimer (handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout)
  }
}
