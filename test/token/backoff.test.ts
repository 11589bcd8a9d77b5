// The backoff schedule and Retry-After parsing, exactly and across random inputs.
import t from 'tap'
import fc from 'fast-check'
import {
  BACKOFF_CAP_MS, RETRY_AFTER_CAP_SECONDS, backoffDelayMs, parseRetryAfter
} from '../../src/token/backoff.js'

const at = (r: number) => () => r

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
  t.equal(backoffDelayMs(1, at(-1)), 800)
  t.equal(backoffDelayMs(1, at(5)), 1200)
  t.equal(backoffDelayMs(1, at(Number.NaN)), 800)
})

t.test('property: always within [0.8, 1.2] of the uncapped base and never above the cap', async () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
    const base = Math.min(1000 * 2 ** Math.min(n - 1, 8), BACKOFF_CAP_MS)
    const d = backoffDelayMs(n, () => r)
    return d <= BACKOFF_CAP_MS && d >= Math.floor(base * 0.8) && d <= Math.ceil(base * 1.2)
  }))
})

t.test('Retry-After delta-seconds', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter(null, now), undefined)
  t.equal(parseRetryAfter('120', now), 120)
  t.equal(parseRetryAfter(' 7 ', now), 7)
  t.equal(parseRetryAfter('0', now), 0)
  t.equal(parseRetryAfter('100000', now), RETRY_AFTER_CAP_SECONDS)
  t.equal(parseRetryAfter('99999999999999999999999', now), RETRY_AFTER_CAP_SECONDS)
})

t.test('Retry-After HTTP-date', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:45 GMT', now), 45)
  t.equal(parseRetryAfter(new Date(now + 1500).toUTCString(), now + 500), 1, 'rounded up')
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0, 'past')
  t.equal(parseRetryAfter('Fri, 01 Jan 2027 00:00:00 GMT', now), RETRY_AFTER_CAP_SECONDS, 'far future capped')
})

t.test('Retry-After garbage is ignored', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter('', now), undefined)
})
