// Three replicas (apps in this process) sharing one real redis-server and the emulator over real
// HTTP: 30 concurrent creates of one caller at a cap of 3 give exactly 3 endpoints; an endpoint
// created on one replica is listed and deleted through another and stays invisible to other
// callers; one replica sweeps per interval (the others find the lock held); Redis holds no
// identity in clear; with Redis down, callers are still served (each replica counts on its own).
import t, { type Test } from 'tap'
import { FakeClock } from '../helpers/fake-clock.js'
import { eventually } from '../helpers/eventually.js'
import { PATIENT_TIMINGS, redisSkip, startRedisServer } from '../helpers/redis-server.js'
import { KEY, OTHER, ROUTE, createDirectly, rig, startBrtcEmulator, type Rig, type RigOptions } from '../helpers/brtc-rig.js'
import { sample } from '../helpers/output.js'
import type { UpstreamEmulator } from '../../emulator/upstream-emulator.js'

const skip = redisSkip()

async function replicas (t: Test, emulator: UpstreamEmulator, url: string, opts: RigOptions = {}, n = 3): Promise<Rig[]> {
  const apps: Rig[] = []
  for (let i = 0; i < n; i++) {
    apps.push(await rig(t, {
      ...opts,
      emulator,
      // A long provider timeout keeps the shared token fetch lock held however slow the machine is.
      env: { REDIS_URL: url, RATE_LIMIT_MAX: '1000', UPSTREAM_TIMEOUT_MS: '20000', ...opts.env },
      redis: { timings: PATIENT_TIMINGS },
      tokens: { redisPollMs: 10 }
    }))
  }
  return apps
}

t.test('30 concurrent creates of one caller across three replicas at a cap of 3: exactly 3', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const emulator = await startBrtcEmulator(t)
  const apps = await replicas(t, emulator, server.url, { env: { BRTC_MAX_ENDPOINTS_PER_CALLER: '3' } })
  // Every replica has derived its owner-tag key and holds an account token, so all 30 race for real.
  for (const { app } of apps) t.equal((await app.inject({ url: ROUTE, headers: KEY })).statusCode, 200)
  const replies = await Promise.all(Array.from({ length: 30 }, async (_, i) =>
    await apps[i % 3]!.app.inject({ method: 'POST', url: ROUTE, headers: KEY })))
  const statuses = replies.map((r) => r.statusCode)
  t.equal(statuses.filter((s) => s === 201).length, 3, 'exactly the cap')
  t.equal(statuses.filter((s) => s === 409).length, 27, 'every other one ENDPOINT_LIMIT')
  t.equal(emulator.brtcEndpoints().length, 3, 'the provider was asked for 3 endpoints only')
  t.equal(emulator.stats().brtc.operations.create, 3)
  t.equal((await apps[0]!.app.inject({ method: 'POST', url: ROUTE, headers: OTHER })).statusCode, 201, 'another caller is not affected')

  const keys = await server.client().keys('wts:brtc:*')
  t.ok(keys.length >= 2 && keys.every((k) => /^wts:brtc:cap:wts1\.[A-Za-z0-9_-]{43}$/.test(k)), `cap keys are tags: ${keys.join(' ')}`)
  const dumped = JSON.stringify(await Promise.all(keys.map(async (k) => await server.client().zrange(k, '0', '-1'))))
  t.notMatch(`${keys.join(' ')} ${dumped}`, /web|mobile|api_key/, 'no identity in clear')
})

t.test('created on one replica, listed and deleted through another, invisible to other callers', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const emulator = await startBrtcEmulator(t)
  const [a, b, c] = await replicas(t, emulator, server.url)
  const mine = (await a!.app.inject({ method: 'POST', url: ROUTE, headers: KEY })).json()
  t.same((await b!.app.inject({ url: ROUTE, headers: KEY })).json().endpoints.map((e: { endpoint_id: string }) => e.endpoint_id), [mine.endpoint_id])
  t.same((await b!.app.inject({ url: ROUTE, headers: OTHER })).json().endpoints, [])
  t.equal((await c!.app.inject({ method: 'DELETE', url: `${ROUTE}/${mine.endpoint_id as string}`, headers: OTHER })).statusCode, 404)
  t.equal((await c!.app.inject({ method: 'DELETE', url: `${ROUTE}/${mine.endpoint_id as string}`, headers: KEY })).statusCode, 204)
  t.equal(emulator.brtcEndpoints().length, 0)
  t.equal(await server.client().zcard((await server.client().keys('wts:brtc:cap:*'))[0] ?? 'none'), 0, 'its slot is freed for every replica')
})

t.test('one replica sweeps per interval; the others find the lock held', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const emulator = await startBrtcEmulator(t)
  const clock = new FakeClock({ wall: Date.now() })
  const apps = await replicas(t, emulator, server.url, { clock, env: { BRTC_SWEEP_INTERVAL_SECONDS: '60' } })
  emulator.setEndpointLifetime(-10)
  for (let i = 0; i < 3; i++) await createDirectly(emulator, { tag: `wts1.expired-${i}` })
  await clock.advanceAsync(60_000)
  const count = async (outcome: string): Promise<number> => {
    let n = 0
    for (const { app } of apps) n += sample((await app.inject({ url: '/metrics' })).body, `brtc_sweeps_total{outcome="${outcome}"}`) ?? 0
    return n
  }
  await eventually(async () => await count('success') + await count('locked') === 3, 'every replica tried')
  t.equal(await count('success'), 1, 'one swept')
  t.equal(await count('locked'), 2, 'two skipped')
  t.equal(emulator.stats().brtc.operations.list, 1, 'the account was listed once')
  t.equal(emulator.brtcEndpoints().length, 0)
  t.ok(await server.client().pttl('wts:brtc:sweep:9900000') > 0, 'the lock stays for the interval')
})

t.test('Redis down: callers are still served, each replica counting on its own', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const emulator = await startBrtcEmulator(t)
  const [a] = await replicas(t, emulator, server.url, { env: { BRTC_MAX_ENDPOINTS_PER_CALLER: '1' } }, 1)
  t.equal((await a!.app.inject({ method: 'POST', url: ROUTE, headers: OTHER })).statusCode, 201)
  await server.kill()
  await eventually(async () => (await a!.app.inject('/readyz')).json().redis === 'down', 'redis down')
  const first = await a!.app.inject({ method: 'POST', url: ROUTE, headers: KEY })
  t.equal(first.statusCode, 201, 'never failed because of Redis')
  t.equal((await a!.app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 409, 'the cap holds on this replica')
  t.equal((await a!.app.inject({ method: 'DELETE', url: `${ROUTE}/${first.json().endpoint_id as string}`, headers: KEY })).statusCode, 204)
  t.equal((await a!.app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 201)
})
