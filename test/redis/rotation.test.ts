// Replicas sharing Redis converge after a client-secret rotation: each reloads the new secret from
// its file, the shared entry's name and key move with it (the old entry is left to expire), and the
// next refresh costs one provider request for all of them, with no replica serving a wrong token.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ReloadResult } from '../../src/config/reloader.js'
import { API_KEY, build, type Built } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { eventually } from '../helpers/eventually.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer } from '../helpers/redis-server.js'

/** How long a changed file must read the same before a reload takes it, on the replica's FakeClock. */
const SETTLE_MS = 50

/** A reload, its settle time moved on the FakeClock the app's reloader runs on. */
async function reloadOn (app: FastifyInstance, clock: FakeClock): Promise<ReloadResult> {
  const reload = app.reloadConfig()
  await clock.advanceAsync(SETTLE_MS)
  return await reload
}

t.test('two replicas, one secret file each, rotated together', { skip: redisSkip() }, async (t) => {
  const server = await startRedisServer(t)
  const provider = fakeProvider()
  const dir = t.testdir({ a: 'bw-secret-OLD-0123456789', b: 'bw-secret-OLD-0123456789' })
  const replica = async (file: string, clock: FakeClock): Promise<Built> => await build(t, {
    // Only the rotated upstream: another one's prewarm could land its own entry at any moment.
    env: {
      REDIS_URL: server.url,
      BANDWIDTH_CLIENT_SECRET: '',
      BANDWIDTH_CLIENT_SECRET_FILE: join(dir, file),
      GLOBAL_WEBRTC_CLIENT_ID: undefined,
      GLOBAL_WEBRTC_CLIENT_SECRET: undefined,
      DEFAULT_UPSTREAM: 'bandwidth',
      UPSTREAM_TIMEOUT_MS: '20000'
    },
    provider,
    redis: { timings: PATIENT_TIMINGS },
    tokens: { clock, redisPollMs: 10 },
    reload: { clock, settleMs: SETTLE_MS }
  })
  const clockA = new FakeClock()
  const clockB = new FakeClock()
  const a = await replica('a', clockA)
  const token = async (r: Built): Promise<string> => (await r.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).json<{ access_token: string }>().access_token
  const first = await token(a)
  const b = await replica('b', clockB)
  t.equal(await token(b), first, 'B shares A\'s token')
  t.equal(provider.calls.bandwidth, 1)
  const entries = async (): Promise<string[]> => await server.client().keys('wts:token:*')
  const before = await entries()
  t.equal(before.length, 1, 'one shared entry, for the old secret')

  for (const file of ['a', 'b']) writeFileSync(join(dir, file), 'bw-secret-NEW-0123456789')
  t.equal((await reloadOn(a.app, clockA)).outcome, 'reloaded')
  t.equal((await reloadOn(b.app, clockB)).outcome, 'reloaded')
  t.equal(await token(a), first, 'the held token is still served after the rotation')

  // A refreshes first (at 80 % of 3600 s) under the new secret; B follows and reads A's token.
  await clockA.advanceAsync(2_880_000)
  // Real Redis round trips: wait for the refresh to land rather than for a time.
  let refreshed = first
  await eventually(async () => { refreshed = await token(a); return refreshed !== first }, 'A serves a refreshed token')
  await clockB.advanceAsync(2_880_000)
  await eventually(async () => await token(b) === refreshed, 'B serves the token A refreshed')
  t.equal(await token(a), refreshed, 'A keeps serving the token it fetched with the new secret')
  t.equal(await token(b), refreshed, 'B converged on the token A fetched with the new secret')
  t.equal(provider.calls.bandwidth, 2, 'one provider request for the refresh, for both replicas')
  const after = await entries()
  t.equal(after.length, 2, 'a new entry for the new secret')
  t.ok(after.includes(before[0] ?? ''), 'the old one is left to expire on its own')
})

t.test('a changed REDIS_URL_FILE moves the replica to the new Redis (a new password, another server)', { skip: redisSkip() }, async (t) => {
  const first = await startRedisServer(t)
  const second = await startRedisServer(t)
  const dir = t.testdir({ url: first.url })
  const clock = new FakeClock()
  const { app } = await build(t, {
    env: { REDIS_URL_FILE: join(dir, 'url'), LOG_LEVEL: 'info' },
    redis: { timings: PATIENT_TIMINGS },
    reload: { clock, settleMs: SETTLE_MS }
  })
  const ask = async (): Promise<number> => (await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).statusCode
  t.equal(await ask(), 200)
  t.ok((await first.client().keys('wts:rl:*')).length > 0, 'counted in the first Redis')

  writeFileSync(join(dir, 'url'), second.url)
  t.same(await reloadOn(app, clock), { outcome: 'reloaded', changed: ['REDIS_URL'] })
  await eventually(() => app.redis?.isUp() ?? false, 'connected to the new Redis')
  t.equal(await ask(), 200)
  t.ok((await second.client().keys('wts:rl:*')).length > 0, 'counting goes on in the new Redis')
  t.match((await app.inject({ url: '/metrics' })).body, /^redis_up 1$/m)
})
