// src/lib/clock.ts (clampDelay, systemClock: real timers, capped and unref'd) and the FakeClock
// test helper (test/helpers/fake-clock.ts) the token, client and plugin tests drive time with.
import t from 'tap'
import { MAX_TIMER_MS, clampDelay, systemClock } from '../../src/lib/clock.js'
import { DEFAULT_WALL, FakeClock, settle } from '../helpers/fake-clock.js'

t.test('clampDelay', async (t) => {
  t.equal(clampDelay(5), 5)
  t.equal(clampDelay(0), 0)
  t.equal(clampDelay(-5), 0)
  t.equal(clampDelay(Number.NaN), 0)
  t.equal(clampDelay(1e12), MAX_TIMER_MS)
  t.equal(clampDelay(Number.POSITIVE_INFINITY), MAX_TIMER_MS)
  t.equal(MAX_TIMER_MS, 2 ** 31 - 1)
})

t.test('systemClock reads performance.now() and Date.now()', async (t) => {
  const before = performance.now()
  const m = systemClock.monotonic()
  t.ok(m >= before && m <= performance.now(), 'monotonic is performance.now()')
  const wallBefore = Date.now()
  const w = systemClock.wall()
  t.ok(w >= wallBefore && w <= Date.now(), 'wall is Date.now()')
})

t.test('systemClock timers are unref\'d and fire', async (t) => {
  const handle = systemClock.setTimer(() => {}, 1e9) as NodeJS.Timeout
  t.teardown(() => { systemClock.clearTimer(handle) })
  t.equal(handle.hasRef(), false, 'never holds the process open')
  // An unref'd timer alone lets the process exit before it fires: the deadline, a ref'd timer,
  // holds the loop while waiting. It only bounds a hang; the timer fires on the next turn.
  let deadline: NodeJS.Timeout | undefined
  try {
    const outcome = await Promise.race([
      new Promise<unknown[]>((resolve) => { systemClock.setTimer((...args: unknown[]) => { resolve(args) }, 0) }),
      new Promise<string>((resolve) => { deadline = setTimeout(() => { resolve('did not fire within 20 s') }, 20_000) })
    ])
    t.strictSame(outcome, [], 'the callback ran, called with no arguments')
  } finally {
    clearTimeout(deadline)
  }
})

t.test('systemClock timers are capped and clearable', async (t) => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.name) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const long = systemClock.setTimer(() => { t.fail('must not fire') }, 1e12) as NodeJS.Timeout & { _idleTimeout: number }
  t.equal(long._idleTimeout, MAX_TIMER_MS)
  systemClock.clearTimer(long)
  let fired = false
  systemClock.clearTimer(systemClock.setTimer(() => { fired = true }, 0))
  await new Promise((resolve) => setTimeout(resolve, 0)) // a ref'd timer queued after the cleared one
  t.equal(fired, false)
  await new Promise((resolve) => setImmediate(resolve)) // process warnings are emitted on a later tick
  t.same(warnings, [], 'no TimeoutOverflowWarning')
})

t.test('FakeClock: starts at known values, monotonic and wall move together', async (t) => {
  const c = new FakeClock()
  t.equal(c.monotonic(), 1_000_000)
  t.equal(c.wall(), DEFAULT_WALL)
  t.equal(new Date(DEFAULT_WALL).toISOString(), '2026-01-01T00:00:00.000Z')
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
  t.equal(c.wall(), 1000, 'wall followed')
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
    Promise.resolve().then(async () => await settle(1)).then(() => { c.setTimer(step, 1000) }, () => {})
  }
  c.setTimer(step, 1000)
  await c.advanceAsync(3500)
  t.same(fired, [1000, 2000, 3000])
  t.equal(c.monotonic(), 3500)
})
