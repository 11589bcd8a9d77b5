// A Clock that moves only when a test says so, so refresh, margin, timeout and backoff can be
// tested exactly and without real sleeps. Monotonic and wall time advance together.
//
//   const clock = new FakeClock()          // monotonic 1_000_000, wall 2026-01-01T00:00:00Z
//   clock.advance(5000)                    // fires due timers in time order, synchronously
//   await clock.advanceAsync(60_000)       // same, letting promises settle before/after each timer
//   clock.pendingTimers()                  // timers scheduled and not yet fired or cleared
//   clock.nextTimerIn()                    // ms until the next timer fires, or undefined
//   await settle()                         // let pending promise chains (fake fetches) finish
//   await settlesNow(p)                    // whether p settles within those turns, the clock standing still
import { clampDelay } from '../../src/lib/clock.js'
import type { Clock, TimerHandle } from '../../src/lib/clock.js'

interface Timer { at: number, seq: number, fn: () => void }

export const DEFAULT_WALL = Date.parse('2026-01-01T00:00:00.000Z')

/** Lets promise chains started by fired timers run to completion (a few macrotask turns). */
export async function settle (turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Whether p settles within settle()'s turns, the clock standing still: false while it waits on a timer or anything else. */
export async function settlesNow (p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  await settle()
  return done
}

export class FakeClock implements Clock {
  #monotonic: number
  #wall: number
  #seq = 0
  readonly #timers = new Set<Timer>()

  constructor (start: { monotonic?: number, wall?: number } = {}) {
    this.#monotonic = start.monotonic ?? 1_000_000
    this.#wall = start.wall ?? DEFAULT_WALL
  }

  monotonic (): number {
    return this.#monotonic
  }

  wall (): number {
    return this.#wall
  }

  /** Like systemClock: the delay is clamped to [0, 2^31-1] ms. */
  setTimer (fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.#monotonic + clampDelay(ms), seq: this.#seq++, fn }
    this.#timers.add(timer)
    return timer
  }

  clearTimer (handle: TimerHandle): void {
    this.#timers.delete(handle as Timer)
  }

  pendingTimers (): number {
    return this.#timers.size
  }

  nextTimerIn (): number | undefined {
    const next = this.#next()
    return next === undefined ? undefined : next.at - this.#monotonic
  }

  /** Moves time forward by ms, firing every timer due by then (including ones they schedule) in order. */
  advance (ms: number): void {
    const target = this.#monotonic + ms
    for (let timer = this.#due(target); timer !== undefined; timer = this.#due(target)) this.#fire(timer)
    this.#moveTo(target)
  }

  /**
   * As advance(), but settles promises first, after each timer and at the end, so async work
   * a timer starts (e.g. a fake fetch) finishes, and can schedule more, before time moves on.
   */
  async advanceAsync (ms: number): Promise<void> {
    const target = this.#monotonic + ms
    await settle()
    for (let timer = this.#due(target); timer !== undefined; timer = this.#due(target)) {
      this.#fire(timer)
      await settle()
    }
    this.#moveTo(target)
    await settle()
  }

  #fire (timer: Timer): void {
    this.#moveTo(timer.at)
    this.#timers.delete(timer)
    timer.fn()
  }

  #moveTo (at: number): void {
    this.#wall += at - this.#monotonic
    this.#monotonic = at
  }

  #due (target: number): Timer | undefined {
    const next = this.#next()
    return next !== undefined && next.at <= target ? next : undefined
  }

  #next (): Timer | undefined {
    let best: Timer | undefined
    for (const t of this.#timers) {
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    }
    return best
  }
}
