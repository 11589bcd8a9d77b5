// Parses TRUST_PROXY into what Fastify's `trustProxy` accepts: a boolean, a hop count, or a
// list of proxy addresses/CIDR ranges. Trusting X-Forwarded-* from anywhere lets any client
// pick the IP it is rate-limited by, so anything unrecognised is an error, not a guess. Each
// range is also compiled by @fastify/proxy-addr, which Fastify compiles it with, so what passes
// here cannot fail at startup.
import { compile } from '@fastify/proxy-addr'
import { isIP } from 'node:net'
import type { TrustProxy } from './types.js'

const HOP_COUNT = /^[0-9]{1,9}$/
const PREFIX_LENGTH = /^[0-9]{1,3}$/

/** Each problem is pushed as `<label>: …`; the result is meaningful only when none was pushed. */
export function parseTrustProxy (value: string, label: string, problems: string[]): TrustProxy {
  const lower = value.trim().toLowerCase()
  if (lower === 'true') return true
  if (lower === 'false') return false
  if (HOP_COUNT.test(lower)) return Number(lower)
  const ranges = value.split(',').map(part => part.trim()).filter(part => part !== '')
  if (ranges.length === 0) problems.push(`${label}: contains no addresses`)
  ranges.forEach((range, index) => {
    // A /0 is checked by its text: proxy-addr refuses to compile it.
    const trust = compiledRange(range)
    if (/^0+$/.test(range.split('/')[1] ?? '1') || (trust !== undefined && trustsEveryAddress(trust))) {
      problems.push(`${label}: entry ${index + 1} trusts every address of its family (a /0, or ::ffff:0:0/96 for IPv4); TRUST_PROXY=true says that`)
    } else if (trust === undefined) {
      problems.push(`${label}: entry ${index + 1} is not an IP address or CIDR range ` +
        '(TRUST_PROXY must be true, false, a hop count, or comma-separated IP addresses/CIDR ranges)')
    }
  })
  return ranges
}

type Trust = ReturnType<typeof compile>

/** The range as proxy-addr compiles it, or undefined when it is not an IP address or CIDR range. */
function compiledRange (range: string): Trust | undefined {
  const [address = '', prefix, extra] = range.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return undefined
  if (prefix !== undefined && !(PREFIX_LENGTH.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))) return undefined
  try {
    return compile([range])
  } catch {
    return undefined
  }
}

/**
 * Whether the range trusts every IPv4 or every IPv6 peer, as proxy-addr matches them: an IPv4
 * peer is also matched against IPv4-mapped IPv6 ranges, so `::ffff:0.0.0.0/96` trusts them all.
 */
function trustsEveryAddress (trust: Trust): boolean {
  return (trust('0.0.0.1', 0) && trust('255.255.255.254', 0)) || (trust('::1', 0) && trust('ffff:ffff::1', 0))
}
