// Owner tags (src/brtc/owner-tag.ts): `wts1.` + base64url HMAC-SHA256 of the identity under the
// key the contract names; the same for every instance holding the same secret (replicas, a
// restart); API-key and JWT callers apart; a rotated secret recognised alongside the previous
// ones since start, never beyond MAX_KEY_GENERATIONS; a failed derivation retried.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { callerOf } from '../../src/auth/credentials.js'
import { rootKey, subKey } from '../../src/lib/derive-key.js'
import { Secret } from '../../src/lib/secret.js'
import {
  MAX_KEY_GENERATIONS, OwnerKeys, TAG_PREFIX, isServiceTag, ownerTag, tagMatches
} from '../../src/brtc/owner-tag.js'

const ACCOUNT = '9900000'
const keysFor = (secret: () => Secret, maxGenerations?: number): OwnerKeys =>
  new OwnerKeys({ secret, accountId: ACCOUNT, ...(maxGenerations !== undefined && { maxGenerations }) })

t.test('the tag is wts1. + base64url(HMAC-SHA256(subKey(rootKey(secret, brtc-owner-tag:<account>), owner-tag), identity))', async (t) => {
  const secret = new Secret('bw-secret-for-tags')
  const key = subKey(await rootKey(secret, `brtc-owner-tag:${ACCOUNT}`), 'owner-tag')
  const expected = `wts1.${createHmac('sha256', key).update('api_key:web').digest('base64url')}`
  const owner = await keysFor(() => secret).owner('api_key:web')
  t.equal(owner.tag, expected)
  t.same(owner.tags, [expected])
  t.match(owner.tag, /^wts1\.[A-Za-z0-9_-]{43}$/)
  t.notMatch(owner.tag, /web/, 'the identity is not in the tag')
  t.equal(ownerTag(key, 'api_key:web'), expected)
})

t.test('same secret, same tag: another replica, or this one after a restart', async (t) => {
  const a = await keysFor(() => new Secret('shared-secret')).owner('jwt:alice')
  const b = await keysFor(() => new Secret('shared-secret')).owner('jwt:alice')
  t.equal(a.tag, b.tag)
  const otherAccount = await new OwnerKeys({ secret: () => new Secret('shared-secret'), accountId: '9900001' }).owner('jwt:alice')
  t.not(otherAccount.tag, a.tag, 'the account is part of the key')
  const otherSecret = await keysFor(() => new Secret('another-secret')).owner('jwt:alice')
  t.not(otherSecret.tag, a.tag)
})

t.test('API-key and JWT callers of the same name never share a tag', async (t) => {
  t.equal(callerOf('api_key', 'alice').identity, 'api_key:alice')
  t.equal(callerOf('jwt', 'alice').identity, 'jwt:alice')
  const keys = keysFor(() => new Secret('s'))
  const [apiKey, jwt] = await Promise.all([keys.owner('api_key:alice'), keys.owner('jwt:alice')])
  t.not(apiKey.tag, jwt.tag)
})

t.test('tagMatches compares against every candidate; isServiceTag looks at the prefix only', async (t) => {
  t.equal(TAG_PREFIX, 'wts1.')
  t.ok(tagMatches('wts1.b', ['wts1.a', 'wts1.b']))
  t.ok(tagMatches('wts1.a', ['wts1.a', 'wts1.b']))
  t.notOk(tagMatches('wts1.c', ['wts1.a', 'wts1.b']))
  t.notOk(tagMatches('wts1.a', []))
  t.notOk(tagMatches(undefined, ['wts1.a']))
  t.notOk(tagMatches('wts1.', ['wts1.a']), 'a prefix is not a match')
  t.ok(isServiceTag('wts1.anything'))
  t.notOk(isServiceTag('wts2.x'))
  t.notOk(isServiceTag('room-7'))
  t.notOk(isServiceTag(undefined))
})

t.test('rotation: new endpoints get the new tag; the previous tags stay recognised, newest first', async (t) => {
  let secret = new Secret('secret-1')
  const keys = keysFor(() => secret)
  const first = await keys.owner('api_key:web')
  secret = new Secret('secret-2')
  const second = await keys.owner('api_key:web')
  t.not(second.tag, first.tag, 'created with the current key')
  t.same(second.tags, [second.tag, first.tag])
  secret = new Secret('secret-3')
  const third = await keys.owner('api_key:web')
  t.same(third.tags, [third.tag, second.tag, first.tag])
  t.equal(keys.generations, 3)
  // Back to a secret used before: it becomes current again, nothing is derived twice or lost.
  secret = new Secret('secret-1')
  const again = await keys.owner('api_key:web')
  t.same(again.tags, [first.tag, third.tag, second.tag])
  t.equal(keys.generations, 3)
})

t.test('a restart knows only the current key: tags of older keys are no one\'s', async (t) => {
  const before = await keysFor(() => new Secret('old')).owner('api_key:web')
  const restarted = await keysFor(() => new Secret('new')).owner('api_key:web')
  t.notOk(tagMatches(before.tag, restarted.tags), 'the caller no longer owns what the old key tagged')
  const stranger = await keysFor(() => new Secret('new')).owner('api_key:mobile')
  t.notOk(tagMatches(before.tag, stranger.tags), 'and nor does anyone else')
})

t.test('at most MAX_KEY_GENERATIONS keys are recognised', async (t) => {
  t.equal(MAX_KEY_GENERATIONS, 4)
  let n = 0
  const keys = keysFor(() => new Secret(`secret-${n}`), 2)
  const tags: string[] = []
  for (; n < 3; n++) tags.push((await keys.owner('jwt:x')).tag)
  n = 2
  const now = await keys.owner('jwt:x')
  t.same(now.tags, [tags[2], tags[1]], 'the oldest is dropped')
  n = 0
  t.same((await keys.owner('jwt:x')).tags, [tags[0], tags[2]], 'and derived anew when it comes back')
  t.throws(() => keysFor(() => new Secret('s'), 0), RangeError)
})

t.test('concurrent first uses derive the key once; warm() derives it ahead', async (t) => {
  const keys = keysFor(() => new Secret('concurrent'))
  await keys.warm()
  t.equal(keys.generations, 1)
  const owners = await Promise.all(Array.from({ length: 20 }, async () => await keys.owner('api_key:web')))
  t.equal(new Set(owners.map((o) => o.tag)).size, 1)
  t.equal(keys.generations, 1)
})

t.test('a failed derivation is forgotten and tried again', async (t) => {
  let fail = true
  const mocked = await t.mockImport<typeof import('../../src/brtc/owner-tag.js')>('../../src/brtc/owner-tag.js', {
    '../../src/lib/derive-key.js': {
      rootKey: async () => {
        if (fail) throw new Error('scrypt: out of memory')
        return Buffer.alloc(32, 1)
      },
      subKey
    }
  })
  const keys = new mocked.OwnerKeys({ secret: () => new Secret('s'), accountId: ACCOUNT })
  await t.rejects(keys.owner('api_key:web'), /out of memory/)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(keys.generations, 0, 'the failed generation is gone')
  fail = false
  t.match((await keys.owner('api_key:web')).tag, /^wts1\./)
})
