// parseRetryAfter (src/lib/retry-after.ts): `Retry-After` as milliseconds, for the provider's
// header and the browser client alike: delta-seconds (decimals too), HTTP-dates (a past one is
// 0), the cap, and everything that is no header at all.
import t from 'tap'
import fc from 'fast-check'
import { parseRetryAfter } from '../../src/lib/retry-after.js'

const NOW = Date.parse('2026-01-01T00:00:00Z')
const CAP = 60_000
const parse = (value: string | null | undefined, now = NOW): number | undefined => parseRetryAfter(value, now, CAP)

t.test('absent', async (t) => {
  t.equal(parse(null), undefined)
  t.equal(parse(undefined), undefined)
  t.equal(parse(''), undefined)
  t.equal(parse('   '), undefined)
})

t.test('delta-seconds, in milliseconds', async (t) => {
  t.equal(parse('5'), 5000)
  t.equal(parse(' 5 '), 5000, 'surrounding whitespace is ignored')
  t.equal(parse('7.5'), 7500, 'a decimal is taken as meant, not as a date')
  t.equal(parse('0'), 0)
  t.equal(parse('0.0001'), 1, 'rounded up to whole milliseconds')
  t.equal(parse('60'), 60_000)
  t.equal(parse('61'), CAP)
  t.equal(parse('99999999999999999999'), CAP, 'huge: capped')
  t.equal(parseRetryAfter('120', NOW, 5000), 5000, 'the cap is the caller\'s')
})

t.test('numbers that are not delta-seconds', async (t) => {
  t.equal(parse('-3'), undefined, 'negative')
  t.equal(parse('1e3'), undefined, 'exponent')
  t.equal(parse('7.'), undefined)
  t.equal(parse('.5'), undefined)
  t.equal(parse('7.5x'), undefined)
  t.equal(parse('+5'), undefined)
  t.equal(parse('0x10'), undefined)
})

t.test('HTTP-date', async (t) => {
  t.equal(parse('Thu, 01 Jan 2026 00:00:45 GMT'), 45_000, 'future')
  t.equal(parse(new Date(NOW + 30_000).toUTCString(), NOW + 500), 29_500, 'counted from the given now')
  t.equal(parse(' Thu, 01 Jan 2026 00:00:45 GMT '), 45_000, 'trimmed')
  t.equal(parse('Wed, 31 Dec 2025 23:00:00 GMT'), 0, 'past: no wait')
  t.equal(parse('Thu, 01 Jan 2026 00:00:00 GMT'), 0, 'now')
  t.equal(parse('Fri, 01 Jan 2027 00:00:00 GMT'), CAP, 'far future: capped')
})

t.test('garbage is no header at all', async (t) => {
  t.equal(parse('soon'), undefined)
  t.equal(parse('Wed, 99 Foo'), undefined)
  t.equal(parse('2026-01-01T00:01:00Z'), undefined, 'not an HTTP-date')
  t.equal(parse('01 Jan 2026 00:01:00 GMT'), undefined, 'no day name')
})

t.test('property: any whole number of seconds is n * 1000 up to the cap', async (t) => {
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), (n) => parse(String(n)) === Math.min(n * 1000, CAP)))
  })
})

t.test('property: never negative, never above the cap, whatever the text', async (t) => {
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 0, max: 4_102_444_800_000 }), (value, now) => {
      const ms = parseRetryAfter(value, now, CAP)
      return ms === undefined || (ms >= 0 && ms <= CAP && Number.isInteger(ms))
    }))
  })
})

t.test('only real HTTP-dates: a day name, a time of day, GMT (or the asctime year)', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  for (const junk of ['abc, 1', 'Thu, 2026', 'Thursday', 'Thu, 01 Jan 2026 00:00:10', 'Thu, 01 Jan 2026 00:00:10 +0100']) {
    t.equal(parseRetryAfter(junk, now, 60_000), undefined, junk)
  }
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now, 60_000), 10_000, 'IMF-fixdate')
  t.equal(parseRetryAfter('Thursday, 01-Jan-26 00:00:10 GMT', now, 60_000), 10_000, 'RFC 850')
  t.equal(parseRetryAfter('Thu Jan  1 00:00:10 2026', now, 60_000), 10_000, 'asctime')
})
