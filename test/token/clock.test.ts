// systemClock (real timers, capped and unref'd) and the FakeClock test helper others reuse.
import t from 'tap'
import { MAX_TIMER_MS, clampDelay, systemClock } from '../../src/token/clock.js'
import { DEFAULT_WALL, FakeClock, settle } from '../helpers/fake-clock.js'

t.test('clampDelay', async (t) => {
  t.equal(clampDelay(5), 5)
  t.equal(clampDelay(-5), 0)
  t.equal(clampDelay(Number.NaN), 0)
  t.equal(clampDelay(1e12), MAX_TIMER_MS)
})

t.test('systemClock reads performance.now() and Date.now()', async (t) => {
  const m = systemClock.monotonic()
  t.ok(Math.abs(m - performance.now()) < 1000)
  t.ok(Math.abs(systemClock.wall() - Date.now()) < 1000)
})

t.test('systemClock timers fire, are unref\'d, capped and clearable', async (t) => {
  await new Promise<void>((resolve) => {
    const h = systemClock.setTimer(resolve, 0) as NodeJS.Timeout
    t.equal(h.hasRef(), false)
  })
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  const long = systemClock.setTimer(() => t.fail('must not fire'), 1e12) as NodeJS.Timeout & { _idleTimeout: number }
  t.equal(long._idleTimeout, MAX_TIMER_MS)
  systemClock.clearTimer(long)
  let fired = false
  systemClock.clearTimer(systemClock.setTimer(() => { fired = true }, 0))
  await new Promise((resolve) => setTimeout(resolve, 0)) // queued after the cleared 0 ms timer
  process.off('warning', onWarning)
  t.equal(fired, false)
  t.same(warnings, [], 'no TimeoutOverflowWarning')
})

t.test('FakeClock: starts at known values, monotonic and wall move together', async (t) => {
  const c = new FakeClock()
  t.equal(c.monotonic(), 1_000_000)
  t.equal(c.wall(), DEFAULT_WALL)
  c.advance(1234)
  t.equal(c.monotonic(), 1_001_234)
  t.equal(c.wall(), DEFAULT_WALL + 1234)
  const d = new FakeClock({ monotonic: 5, wall: 10 })
  t.equal(d.monotonic(), 5)
  t.equal(d.wall(), 10)
})

t.test('FakeClock: advance fires due timers in time order, then insertion order, at their time', async (t) => {
  const c = new FakeClock({ monotonic: 0, wall: 0 })
  const fired: string[] = []
  c.setTimer(() => fired.push(`b@${c.monotonic()}`), 200)
  c.setTimer(() => fired.push(`a@${c.monotonic()}`), 100)
  c.setTimer(() => fired.push(`c@${c.monotonic()}`), 200)
  c.setTimer(() => fired.push('late'), 1000)
  const cleared = c.setTimer(() => fired.push('cleared'), 50)
  c.clearTimer(cleared)
  t.equal(c.pendingTimers(), 4)
  t.equal(c.nextTimerIn(), 100)
  c.advance(500)
  t.same(fired, ['a@100', 'b@200', 'c@200'])
  t.equal(c.pendingTimers(), 1)
  t.equal(c.nextTimerIn(), 500)
  c.advance(500)
  t.same(fired.at(-1), 'late')
  t.equal(c.nextTimerIn(), undefined)
})

t.test('FakeClock: timers scheduled by timers fire within the same advance; delays are clamped', async (t) => {
  const c = new FakeClock({ monotonic: 0 })
  const fired: number[] = []
  c.setTimer(() => {
    fired.push(c.monotonic())
    c.setTimer(() => fired.push(c.monotonic()), 100)
  }, 100)
  c.setTimer(() => fired.push(c.monotonic()), -5)
  c.advance(250)
  t.same(fired, [0, 100, 200])
  c.setTimer(() => {}, 1e12)
  t.equal(c.nextTimerIn(), MAX_TIMER_MS)
})

t.test('FakeClock: advanceAsync lets promise chains started by a timer schedule the next one', async (t) => {
  const c = new FakeClock({ monotonic: 0 })
  const fired: number[] = []
  const step = (): void => {
    fired.push(c.monotonic())
    Promise.resolve().then(async () => await settle(1)).then(() => { c.setTimer(step, 1000) })
  }
  c.setTimer(step, 1000)
  await c.advanceAsync(3500)
  t.same(fired, [1000, 2000, 3000])
  t.equal(c.monotonic(), 3500)
})
