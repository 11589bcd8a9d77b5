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
    if (/^0+$/.test(range.split('/')[1] ?? '1')) {
      problems.push(`${label}: entry ${index + 1} has a /0 prefix, which would trust every address (TRUST_PROXY=true says that)`)
    } else if (!isAddressOrCidr(range)) {
      problems.push(`${label}: entry ${index + 1} is not an IP address or CIDR range ` +
        '(TRUST_PROXY must be true, false, a hop count, or comma-separated IP addresses/CIDR ranges)')
    }
  })
  return ranges
}

function isAddressOrCidr (range: string): boolean {
  const [address = '', prefix, extra] = range.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return false
  if (prefix !== undefined && !(PREFIX_LENGTH.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))) return false
  try {
    compile([range])
  } catch {
    return false
  }
  return true
}
