// readCredentials and callerOf (src/auth/credentials.ts), on their own: what a request's headers
// present (an API key or a Bearer JWT, exactly one), the log-safe reason for each refusal, and
// identities that never let an API-key caller and a JWT caller share one. The auth plugin's tests
// see these only through whole requests; here every edge of the Bearer syntax is pinned.
import t from 'tap'
import fc from 'fast-check'
import { callerOf, readCredentials } from '../../src/auth/credentials.js'

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl'

t.test('an X-API-Key header alone is an API key, taken as sent', async (t) => {
  t.same(readCredentials({ 'x-api-key': 'the-key' }), { kind: 'api_key', key: 'the-key' })
  t.same(readCredentials({ 'x-api-key': ' spaced key ' }), { kind: 'api_key', key: ' spaced key ' }, 'not trimmed: the verifier judges it')
  t.same(readCredentials({ 'x-api-key': '' }), { kind: 'api_key', key: '' }, 'an empty header is presented (and fails verification), not missing')
})

t.test('a repeated X-API-Key (an array) is one string, never an array', async (t) => {
  const presented = readCredentials({ 'x-api-key': ['one', 'two'] })
  t.same(presented, { kind: 'api_key', key: 'one,two' })
  t.type(presented.kind === 'api_key' && presented.key, 'string')
})

t.test('both headers at once are refused as ambiguous, whatever each holds', async (t) => {
  t.same(readCredentials({ 'x-api-key': 'k', authorization: `Bearer ${JWT}` }), { kind: 'refused', reason: 'ambiguous_credentials' })
  t.same(readCredentials({ 'x-api-key': 'k', authorization: 'Basic abc' }), { kind: 'refused', reason: 'ambiguous_credentials' }, 'even with a malformed Authorization')
  t.same(readCredentials({ 'x-api-key': '', authorization: '' }), { kind: 'refused', reason: 'ambiguous_credentials' }, 'even both empty')
})

t.test('neither header: missing credentials (other headers, a query string, do not count)', async (t) => {
  t.same(readCredentials({}), { kind: 'refused', reason: 'missing_credentials' })
  const headers = { cookie: 'session=abc', 'x-api-key-2': 'k', 'proxy-authorization': `Bearer ${JWT}` } as unknown as Parameters<typeof readCredentials>[0]
  t.same(readCredentials(headers), { kind: 'refused', reason: 'missing_credentials' })
})

t.test('Authorization: Bearer <token>, the scheme in any case, spaces around the token', async (t) => {
  t.same(readCredentials({ authorization: `Bearer ${JWT}` }), { kind: 'jwt', token: JWT })
  t.same(readCredentials({ authorization: `bearer ${JWT}` }), { kind: 'jwt', token: JWT })
  t.same(readCredentials({ authorization: `BEARER ${JWT}` }), { kind: 'jwt', token: JWT })
  t.same(readCredentials({ authorization: `Bearer    ${JWT}` }), { kind: 'jwt', token: JWT }, 'several spaces after the scheme')
  t.same(readCredentials({ authorization: `Bearer ${JWT}   ` }), { kind: 'jwt', token: JWT }, 'trailing spaces are not part of the token')
})

t.test('the token is RFC 6750 token68: its characters, then only trailing =', async (t) => {
  const token68 = 'AZaz09-._~+/tok=='
  t.same(readCredentials({ authorization: `Bearer ${token68}` }), { kind: 'jwt', token: token68 })
  t.same(readCredentials({ authorization: 'Bearer a' }), { kind: 'jwt', token: 'a' }, 'one character is enough')
  for (const bad of ['Bearer ab=cd', 'Bearer ==', 'Bearer =abc', 'Bearer a,b', 'Bearer a"b', 'Bearer tök', 'Bearer a;b']) {
    t.same(readCredentials({ authorization: bad }), { kind: 'refused', reason: 'malformed_authorization' }, bad)
  }
})

t.test('anything else in Authorization is malformed', async (t) => {
  for (const bad of [
    '',
    'Bearer',
    'Bearer ',
    'Bearer  ',
    `Basic ${Buffer.from('user:pass').toString('base64')}`,
    `Token ${JWT}`,
    `Bearer${JWT}`,
    ` Bearer ${JWT}`,
    `Bearer\t${JWT}`,
    `Bearer ${JWT}\t`,
    `Bearer ${JWT}\n`,
    `Bearer ${JWT} ${JWT}`,
    `Bearer ${JWT}, Bearer ${JWT}`,
    `Bearer\u00a0${JWT}`
  ]) {
    t.same(readCredentials({ authorization: bad }), { kind: 'refused', reason: 'malformed_authorization' }, JSON.stringify(bad.slice(0, 20)))
  }
})

t.test('a refusal never carries what was presented', async (t) => {
  const secretish = 'Basic c2VjcmV0LXBhc3N3b3Jk'
  const presented = readCredentials({ authorization: secretish })
  t.equal(presented.kind, 'refused')
  t.notMatch(JSON.stringify(presented), 'c2VjcmV0', 'only the reason word')
  t.same(Object.keys(presented).sort(), ['kind', 'reason'])
})

t.test('property: any Authorization value is either a token68 JWT or malformed, never a throw', async (t) => {
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }).map((s) => `Bearer ${s}`)), (value) => {
      const presented = readCredentials({ authorization: value })
      if (presented.kind === 'jwt') return /^[A-Za-z0-9._~+/-]+=*$/.test(presented.token) && value.includes(presented.token)
      return presented.kind === 'refused' && presented.reason === 'malformed_authorization'
    }))
  })
})

t.test('property: a well-formed Bearer value always yields exactly its token', async (t) => {
  const token68 = fc.tuple(
    fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,80}$/),
    fc.stringMatching(/^=*$/).filter((s) => s.length <= 3)
  ).map(([body, pad]) => body + pad)
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.constantFrom('Bearer', 'bearer', 'BeArEr'), fc.integer({ min: 1, max: 5 }), token68, fc.integer({ min: 0, max: 3 }),
      (scheme, gap, token, trailing) => {
        const presented = readCredentials({ authorization: `${scheme}${' '.repeat(gap)}${token}${' '.repeat(trailing)}` })
        return presented.kind === 'jwt' && presented.token === token
      }))
  })
})

t.test('callerOf: name, method and the identity <method>:<name>', async (t) => {
  t.same(callerOf('api_key', 'web'), { name: 'web', method: 'api_key', identity: 'api_key:web' })
  t.same(callerOf('jwt', 'alice'), { name: 'alice', method: 'jwt', identity: 'jwt:alice' })
})

t.test('callerOf: an API key and a JWT never share an identity, even under one name', async (t) => {
  t.not(callerOf('api_key', 'alice').identity, callerOf('jwt', 'alice').identity)
  t.not(callerOf('jwt', 'api_key:alice').identity, callerOf('api_key', 'alice').identity, 'a sub that spells another identity')
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.constantFrom('api_key' as const, 'jwt' as const), fc.string(), fc.constantFrom('api_key' as const, 'jwt' as const), fc.string(),
      (m1, n1, m2, n2) => (callerOf(m1, n1).identity === callerOf(m2, n2).identity) === (m1 === m2 && n1 === n2)))
  })
})
