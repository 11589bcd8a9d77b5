// Several replicas (apps in this process) sharing one real redis-server and one fake provider:
// 300 concurrent cold requests cost one provider request per upstream, a rate limit of 10 holds
// across all replicas, replicas holding another client secret never share its entry, and nothing
// in Redis is a token, secret, key, caller name or address in clear.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { API_KEY, BANDWIDTH_SECRET, GLOBAL_SECRET, OTHER_KEY, build, type Built } from '../helpers/build.js'
import { fakeProvider, type FakeProvider } from '../helpers/fake-provider.js'
import { PATIENT_TIMINGS, rateLimitKey, redisSkip, startRedisServer } from '../helpers/redis-server.js'

const skip = redisSkip()

/** The fake provider, answering after a short real delay so replicas really overlap. */
function slowProvider (): FakeProvider {
  const provider = fakeProvider()
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    await sleep(30)
    return await provider.fetch(input, init)
  }) as typeof globalThis.fetch
  return { ...provider, fetch }
}

async function replicas (t: Test, env: Record<string, string>, provider: FakeProvider, n = 3): Promise<Built[]> {
  const apps: Built[] = []
  // A long provider timeout keeps the fetch lock (timeout + 1 s) held however slow a loaded CI machine is.
  const withTimeout = { UPSTREAM_TIMEOUT_MS: '20000', ...env }
  for (let i = 0; i < n; i++) {
    apps.push(await build(t, { env: withTimeout, provider, noReady: true, redis: { timings: PATIENT_TIMINGS }, tokens: { redisPollMs: 10 } }))
  }
  return apps
}

/** Every key in Redis with its type and value (strings only are expected). */
async function dump (redis: Redis): Promise<Array<{ key: string, type: string, value: string }>> {
  const out: Array<{ key: string, type: string, value: string }> = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 100)
    cursor = next
    for (const key of keys) {
      const type = await redis.type(key)
      const value = type === 'string' ? await redis.get(key) ?? '' : JSON.stringify(await redis.dump(key))
      out.push({ key, type, value })
    }
  } while (cursor !== '0')
  return out
}

t.test('three replicas, 300 concurrent cold requests: one provider request per upstream', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const provider = slowProvider()
  const apps = await replicas(t, { REDIS_URL: server.url, RATE_LIMIT_MAX: '1000' }, provider)
  // Nothing is ready yet: readiness (and prewarming) starts with the first requests, all at once.
  const requests = Array.from({ length: 300 }, async (_, i) => {
    const { app } = apps[i % 3] as Built
    const url = i % 2 === 0 ? '/token/webrtc' : '/token/webrtc?upstream=bandwidth'
    return await app.inject({ url, headers: { 'x-api-key': i % 4 < 2 ? API_KEY : OTHER_KEY } })
  })
  const replies = await Promise.all(requests)
  t.same([...new Set(replies.map((r) => r.statusCode))], [200], 'every caller served')
  t.same(provider.calls, { bandwidth: 1, global: 1 }, 'exactly one provider request per upstream')
  const tokens = new Set(replies.map((r) => `${r.json().upstream}:${r.json().access_token}`))
  t.equal(tokens.size, 2, 'every replica hands out the same token per upstream')
  for (const { app } of apps) t.equal((await app.inject('/readyz')).json().redis, 'up')
})

t.test('a rate limit of 10 holds across the replicas', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const provider = fakeProvider()
  const apps = await replicas(t, { REDIS_URL: server.url, RATE_LIMIT_MAX: '10' }, provider)
  for (const { app } of apps) await app.ready()
  const replies = await Promise.all(Array.from({ length: 30 }, async (_, i) =>
    await (apps[i % 3] as Built).app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })))
  const statuses = replies.map((r) => r.statusCode)
  t.equal(statuses.filter((s) => s === 200).length, 10, 'exactly 10 allowed')
  t.equal(statuses.filter((s) => s === 429).length, 20)
  const limited = replies.find((r) => r.statusCode === 429)
  t.match(limited?.headers['retry-after'], /^\d+$/)
  t.equal(await server.client().get(rateLimitKey('api_key:web')), '30', 'one shared counter')
  // Another identity has its own budget.
  t.equal((await (apps[0] as Built).app.inject({ url: '/token/webrtc', headers: { 'x-api-key': OTHER_KEY } })).statusCode, 200)
})

t.test('Redis holds no token, secret or key in clear', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const provider = fakeProvider()
  const apps = await replicas(t, { REDIS_URL: server.url }, provider)
  for (const [i, { app }] of apps.entries()) {
    for (const url of ['/token/webrtc', '/token/webrtc?upstream=bandwidth']) {
      t.equal((await app.inject({ url, headers: { 'x-api-key': i === 0 ? API_KEY : OTHER_KEY } })).statusCode, 200)
    }
    t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': 'wrong-' + API_KEY } })).statusCode, 401)
  }
  const entries = await dump(server.client())
  const keys = entries.map((e) => e.key).sort()
  t.equal(keys.filter((k) => /^wts:token:[0-9a-f]{32}$/.test(k)).length, 2, 'one encrypted entry per upstream')
  t.ok(keys.includes(rateLimitKey('api_key:web')) && keys.includes(rateLimitKey('api_key:mobile')), 'rate-limit counters per identity, by digest')
  t.ok(keys.includes(rateLimitKey('address:127.0.0.1')), 'failed authentication counted per address, by digest')
  t.equal(keys.length, 5, 'no other keys (the locks are gone)')
  t.same([...new Set(entries.map((e) => e.type))], ['string'])

  t.ok(provider.issued.length >= 2)
  const forbidden = [
    ...provider.issued, BANDWIDTH_SECRET, GLOBAL_SECRET, API_KEY, OTHER_KEY, 'wrong-' + API_KEY,
    'bw-client', 'gl-client', 'provider.test', 'Basic ', 'mobile', 'api_key', 'address', '127.0.0.1'
  ]
  const haystack = entries.map((e) => `${e.key}\n${e.value}`).join('\n')
  for (const secret of forbidden) {
    for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url'), Buffer.from(secret).toString('hex')]) {
      t.notOk(haystack.includes(form), `no ${secret.slice(0, 8)}… in any form`)
    }
  }
  for (const e of entries.filter((x) => x.key.startsWith('wts:token:'))) {
    t.same(Object.keys(JSON.parse(e.value)).sort(), ['ct', 'iv', 'tag', 'v'], 'only the encryption envelope')
    const ttl = await server.client().pttl(e.key)
    t.ok(ttl > 0 && ttl <= 3600_000, 'expires with its token')
  }
})

t.test('replicas with another client secret keep their own entry; the same secret shares', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const provider = fakeProvider()
  const env = { REDIS_URL: server.url, BANDWIDTH_CLIENT_ID: '', BANDWIDTH_CLIENT_SECRET: '' }
  const [a, b] = await replicas(t, env, provider, 2)
  const [rotated] = await replicas(t, { ...env, GLOBAL_WEBRTC_CLIENT_SECRET: 'the-next-' + GLOBAL_SECRET }, provider, 1)
  const get = async ({ app }: Built): Promise<string> => {
    const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
    t.equal(res.statusCode, 200)
    return res.json().access_token
  }
  const fromA = await get(a as Built)
  t.equal(await get(b as Built), fromA, 'same secret: shared')
  t.equal(provider.calls.global, 1)
  const fromRotated = await get(rotated as Built)
  t.not(fromRotated, fromA, 'another secret never reads the entry')
  t.equal(provider.calls.global, 2)
  t.equal((await server.client().keys('wts:token:*')).length, 2, 'one entry per secret')
})
