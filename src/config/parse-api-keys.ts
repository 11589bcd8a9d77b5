// Parses API_KEYS into hashed entries. Only the SHA-256 of each key is kept, so the raw keys
// live no longer than this call. Problems identify an entry by its position only: an entry
// that does not parse may hold a key where a name should be, so no part of it is echoed.
import { sha256 } from '../lib/secret.js'
import type { ApiKeyEntry } from './types.js'

export const API_KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
export const MIN_API_KEY_LENGTH = 32
/** Longer presented keys are refused before hashing (src/auth/api-keys.ts), so no configured key may be longer. */
export const MAX_API_KEY_LENGTH = 512

const HASH_PREFIX = 'sha256:'
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/
/** What a key may hold: printable ASCII without spaces, what a caller can send in a header unchanged. */
const KEY_CHARACTERS = /^[\x21-\x7e]+$/

/**
 * Entries are separated by commas or newlines (a mounted secret file often holds one per line),
 * with surrounding whitespace trimmed and empty entries skipped. Each problem is pushed as
 * `<label>: …`; the returned entries are meaningful only when no problem was pushed.
 */
export function parseApiKeys (value: string, label: string, problems: string[]): ApiKeyEntry[] {
  const entries: ApiKeyEntry[] = []
  const positionByHash = new Map<string, number>()
  const parts = value.split(/[,\n]/).map(part => part.trim()).filter(part => part !== '')
  if (parts.length === 0) {
    problems.push(`${label}: contains no entries`)
    return entries
  }
  parts.forEach((part, index) => {
    const position = index + 1
    const entry = parseEntry(part)
    if (typeof entry === 'string') {
      problems.push(`${label}: entry ${position} ${entry}`)
      return
    }
    const hex = entry.sha256.toString('hex')
    const first = positionByHash.get(hex)
    if (first === undefined) {
      positionByHash.set(hex, position)
      entries.push(entry)
    } else {
      problems.push(`${label}: entry ${position} has the same key as entry ${first}`)
    }
  })
  return entries
}

/** The entry, or what is wrong with it (a phrase that never quotes the entry). */
function parseEntry (part: string): ApiKeyEntry | string {
  const colon = part.indexOf(':')
  if (colon === -1) return 'is not of the form name:key or name:sha256:<64 hex digits>'
  const name = part.slice(0, colon)
  const key = part.slice(colon + 1)
  if (name === '') return 'has no name'
  if (!API_KEY_NAME.test(name)) {
    return 'has an invalid name: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit'
  }
  if (key === '') return 'has no key'
  if (key.startsWith(HASH_PREFIX)) {
    const hex = key.slice(HASH_PREFIX.length)
    if (!HEX_SHA256.test(hex)) return 'has a sha256 form that is not exactly 64 hex digits'
    return { name, sha256: Buffer.from(hex, 'hex') }
  }
  if (!KEY_CHARACTERS.test(key)) return 'has a key with characters other than printable ASCII without spaces'
  if (key.length < MIN_API_KEY_LENGTH) return `has a key of fewer than ${MIN_API_KEY_LENGTH} characters`
  if (key.length > MAX_API_KEY_LENGTH) return `has a key of more than ${MAX_API_KEY_LENGTH} characters`
  return { name, sha256: sha256(key) }
}
