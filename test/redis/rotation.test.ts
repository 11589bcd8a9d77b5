// Replicas sharing Redis converge after a client-secret rotation: each reloads the new secret from
// its file, the shared entry's name and key move with it (the old entry is left to expire), and the
// next refresh costs one provider request for all of them, with no replica serving a wrong token.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { API_KEY, build, type Built } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer } from '../helpers/redis-server.js'

t.test('two replicas, one secret file each, rotated together', { skip: redisSkip() }, async (t) => {
  const server = await startRedisServer(t)
  const provider = fakeProvider()
  const dir = t.testdir({ a: 'bw-secret-OLD-0123456789', b: 'bw-secret-OLD-0123456789' })
  const replica = async (file: string, clock: FakeClock): Promise<Built> => await build(t, {
    env: { REDIS_URL: server.url, BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, file), DEFAULT_UPSTREAM: 'bandwidth', UPSTREAM_TIMEOUT_MS: '20000' },
    provider,
    redis: { timings: PATIENT_TIMINGS },
    tokens: { clock, redisPollMs: 10 },
    reload: { settleMs: 1 }
  })
  const clockA = new FakeClock()
  const clockB = new FakeClock()
  const a = await replica('a', clockA)
  const token = async (r: Built): Promise<string> => (await r.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).json<{ access_token: string }>().access_token
  const first = await token(a)
  const b = await replica('b', clockB)
  t.equal(await token(b), first, 'B shares A\'s token')
  t.equal(provider.calls.bandwidth, 1)
  const entriesBefore = (await server.client().keys('wts:token:*')).length

  for (const file of ['a', 'b']) writeFileSync(join(dir, file), 'bw-secret-NEW-0123456789')
  for (const r of [a, b]) t.equal((await r.app.reloadConfig()).outcome, 'reloaded')
  t.equal(await token(a), first, 'the held token is still served after the rotation')

  // A refreshes first (at 80 % of 3600 s) under the new secret; B follows and reads A's token.
  await clockA.advanceAsync(2_880_000)
  // Real Redis round trips: wait (bounded) for the refresh to land rather than for a time.
  let refreshed = first
  for (let i = 0; i < 500 && refreshed === first; i++) {
    refreshed = await token(a)
    if (refreshed === first) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.not(refreshed, first, 'A refreshed')
  await clockB.advanceAsync(2_880_000)
  for (let i = 0; i < 200 && await token(b) !== refreshed; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(await token(b), refreshed, 'B converged on the token A fetched with the new secret')
  t.equal(provider.calls.bandwidth, 2, 'one provider request for the refresh, for both replicas')
  t.equal((await server.client().keys('wts:token:*')).length, entriesBefore + 1, 'a new entry for the new secret; the old one expires on its own')
})

t.test('a changed REDIS_URL_FILE moves the replica to the new Redis (a new password, another server)', { skip: redisSkip() }, async (t) => {
  const first = await startRedisServer(t)
  const second = await startRedisServer(t)
  const dir = t.testdir({ url: first.url })
  const { app } = await build(t, {
    env: { REDIS_URL_FILE: join(dir, 'url'), LOG_LEVEL: 'info' },
    redis: { timings: PATIENT_TIMINGS },
    reload: { settleMs: 1 }
  })
  const ask = async (): Promise<number> => (await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).statusCode
  t.equal(await ask(), 200)
  t.ok((await first.client().keys('wts:rl:*')).length > 0, 'counted in the first Redis')

  writeFileSync(join(dir, 'url'), second.url)
  t.same(await app.reloadConfig(), { outcome: 'reloaded', changed: ['REDIS_URL'] })
  for (let i = 0; i < 500 && !(app.redis?.isUp() ?? false); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(app.redis?.isUp(), true, 'connected to the new one')
  t.equal(await ask(), 200)
  t.ok((await second.client().keys('wts:rl:*')).length > 0, 'counting goes on in the new Redis')
  t.match((await app.inject({ url: '/metrics' })).body, /^redis_up 1$/m)
})
