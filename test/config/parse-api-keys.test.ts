// API_KEYS: name:key and name:sha256:<hex> entries, kept only as hashes; problems point at an
// entry by position and never quote it.
import t from 'tap'
import { loadConfig } from '../../src/config/load-config.js'
import { sha256 } from '../../src/lib/secret.js'
import { KEY_A, KEY_B, MINIMAL, problems } from '../helpers/config-env.js'

const env = (apiKeys: string) => ({ ...MINIMAL, API_KEYS: apiKeys })
const keys = (apiKeys: string) => loadConfig(env(apiKeys)).apiKeys

t.test('name:key stores only the SHA-256 of the key', async t => {
  const [entry] = keys(`alice:${KEY_A}`)
  t.equal(entry?.name, 'alice')
  t.ok(entry?.sha256.equals(sha256(KEY_A)))
  t.equal(Object.keys(entry ?? {}).sort().join(), 'name,sha256')
})

t.test('name:sha256:<hex> gives the hash directly, in either case', async t => {
  const hex = sha256(KEY_B).toString('hex')
  const [lower, upper] = keys(`bob:sha256:${hex}, carol:sha256:${sha256(KEY_A).toString('hex').toUpperCase()}`)
  t.equal(lower?.name, 'bob')
  t.ok(lower?.sha256.equals(sha256(KEY_B)))
  t.ok(upper?.sha256.equals(sha256(KEY_A)))
})

t.test('entries are trimmed, separated by commas or newlines; empty ones are skipped', async t => {
  t.same(keys(` alice:${KEY_A} ,\n\n bob:${KEY_B},`).map(k => k.name), ['alice', 'bob'])
})

t.test('a key may contain colons; exactly 32 characters is long enough', async t => {
  t.ok(keys(`a:${'x:'.repeat(16)}`)[0]?.sha256.equals(sha256('x:'.repeat(16))))
  t.same(problems(env(`a:${'x'.repeat(31)}`)), ['API_KEYS: entry 1 has a key of fewer than 32 characters'])
})

t.test('duplicate names are allowed (key rotation)', async t => {
  t.same(keys(`alice:${KEY_A},alice:${KEY_B}`).map(k => k.name), ['alice', 'alice'])
})

t.test('a duplicate key is a problem, in either form', async t => {
  t.same(problems(env(`alice:${KEY_A},bob:${KEY_B},carol:${KEY_A}`)), ['API_KEYS: entry 3 has the same key as entry 1'])
  t.same(problems(env(`alice:${KEY_A},dave:sha256:${sha256(KEY_A).toString('hex')}`)), ['API_KEYS: entry 2 has the same key as entry 1'])
})

t.test('malformed entries', async t => {
  const cases: Array<[string, string]> = [
    [KEY_A, 'is not of the form name:key or name:sha256:<64 hex digits>'],
    [`:${KEY_A}`, 'has no name'],
    ['alice:', 'has no key'],
    [`-alice:${KEY_A}`, 'has an invalid name: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit'],
    [`al ice:${KEY_A}`, 'has an invalid name: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit'],
    [`${'a'.repeat(65)}:${KEY_A}`, 'has an invalid name: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit'],
    ['alice:short', 'has a key of fewer than 32 characters'],
    [`alice:${KEY_A} ${KEY_B}`, 'has a key with characters other than printable ASCII without spaces'],
    [`alice:${KEY_A}\u0000`, 'has a key with characters other than printable ASCII without spaces'],
    // A header carries no such key unchanged, so it could never match: refused at startup instead.
    [`alice:${'é'.repeat(40)}`, 'has a key with characters other than printable ASCII without spaces'],
    [`alice:${'k'.repeat(513)}`, 'has a key of more than 512 characters'],
    ['alice:sha256:', 'has a sha256 form that is not exactly 64 hex digits'],
    [`alice:sha256:${'g'.repeat(64)}`, 'has a sha256 form that is not exactly 64 hex digits'],
    [`alice:sha256:${'a'.repeat(63)}`, 'has a sha256 form that is not exactly 64 hex digits'],
    [`alice:sha256:${'a'.repeat(65)}`, 'has a sha256 form that is not exactly 64 hex digits'],
  ]
  for (const [entry, expected] of cases) {
    t.same(problems(env(`ok:${KEY_B},${entry}`)), [`API_KEYS: entry 2 ${expected}`], JSON.stringify(entry))
  }
  t.ok(keys(`${'a'.repeat(64)}:${KEY_A}`).length === 1, 'a 64-character name is fine')
  t.equal(keys(`long:${'k'.repeat(512)}`).length, 1, 'a 512-character key is fine')
  t.equal(keys(`symbols:${'!~#$%&*+/=?^{|}'.repeat(3)}`).length, 1, 'every printable ASCII character but space is allowed')
  t.ok(keys(`A1._-z:${KEY_A}`).length === 1, 'all the allowed name characters')
})

t.test('a list with no entries is a problem, not "no API keys"', async t => {
  t.same(problems(env(' , ,\n')), ['API_KEYS: contains no entries'])
})

t.test('all bad entries are reported together', async t => {
  t.same(problems(env(`alice:short,${KEY_A},bob:${KEY_B},bob2:${KEY_B}`)), [
    'API_KEYS: entry 1 has a key of fewer than 32 characters',
    'API_KEYS: entry 2 is not of the form name:key or name:sha256:<64 hex digits>',
    'API_KEYS: entry 4 has the same key as entry 3',
  ])
})
