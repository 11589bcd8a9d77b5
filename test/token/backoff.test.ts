// The backoff schedule (src/token/backoff.ts): its constants, and backoffDelayMs exactly and
// across random inputs. Retry-After parsing is in test/lib/retry-after.test.ts.
import t from 'tap'
import fc from 'fast-check'
import {
  BACKOFF_BASE_MS, BACKOFF_CAP_MS, CREDENTIALS_RETRY_MS, RETRY_AFTER_CAP_MS, backoffDelayMs
} from '../../src/token/backoff.js'

const at = (r: number) => () => r

t.test('the constants the contract names', async (t) => {
  t.same({ BACKOFF_BASE_MS, BACKOFF_CAP_MS, CREDENTIALS_RETRY_MS, RETRY_AFTER_CAP_MS }, {
    BACKOFF_BASE_MS: 1000, BACKOFF_CAP_MS: 10_000, CREDENTIALS_RETRY_MS: 60_000, RETRY_AFTER_CAP_MS: 60_000
  })
})

t.test('1 s doubling to a 10 s cap, at the middle of the jitter', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 20].map((n) => backoffDelayMs(n, at(0.5))), [1000, 2000, 4000, 8000, 10000, 10000, 10000])
})

t.test('jitter bounds: x0.8 at random 0, just under x1.2 near 1, still capped', async (t) => {
  t.same([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, at(0))), [800, 1600, 3200, 6400, 8000])
  t.same([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, at(0.999999))), [1200, 2400, 4800, 9600, 10000])
})

t.test('odd inputs: failures below 1, huge counts, random out of range or NaN', async (t) => {
  t.equal(backoffDelayMs(0, at(0.5)), 1000)
  t.equal(backoffDelayMs(-3, at(0.5)), 1000)
  t.equal(backoffDelayMs(1e9, at(0.5)), BACKOFF_CAP_MS)
  t.equal(backoffDelayMs(Number.POSITIVE_INFINITY, at(0.5)), BACKOFF_CAP_MS)
  t.equal(backoffDelayMs(1, at(-1)), 800)
  t.equal(backoffDelayMs(1, at(5)), 1200)
  t.equal(backoffDelayMs(1, at(Number.NaN)), 800)
})

t.test('random is drawn once per delay', async (t) => {
  let draws = 0
  backoffDelayMs(3, () => { draws++; return 0.5 })
  t.equal(draws, 1)
})

t.test('property: always within [0.8, 1.2] of the uncapped base and never above the cap', async (t) => {
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
      const base = Math.min(1000 * 2 ** Math.min(n - 1, 8), BACKOFF_CAP_MS)
      const d = backoffDelayMs(n, () => r)
      return d <= BACKOFF_CAP_MS && d >= Math.floor(base * 0.8) && d <= Math.ceil(base * 1.2)
    }))
  })
})
