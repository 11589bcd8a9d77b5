// The BRTC plugin (src/plugins/brtc.ts) in the whole app, against the emulator over real HTTP:
// off without BRTC_ACCOUNT_ID; the sweep starts once the app is ready and runs on the injected
// clock, counted in the metrics; closing the app cuts a sweep in flight short, and answers a
// create waiting on a hung provider with its 503. Ownership: a new
// app instance with the same secret (a restart) recognises the caller's endpoints; a rotated
// secret (a `*_FILE` reload) keeps the caller's earlier endpoints theirs in this process and hands
// no one else's to anyone; after a restart with the new secret those are no one's (not listed,
// not deletable, not counted toward the cap) until the sweep deletes them once expired.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { eventually } from '../helpers/eventually.js'
import { KEY, OTHER, ROUTE, createDirectly, rig, startBrtcEmulator } from '../helpers/brtc-rig.js'
import { parsedLogs, sample } from '../helpers/output.js'

const OLD_SECRET = 'bw-secret-OLD-0123456789'
const NEW_SECRET = 'bw-secret-NEW-0123456789'

t.test('off without BRTC_ACCOUNT_ID; on, it decorates what the routes use', async (t) => {
  const off = await build(t)
  t.equal(off.app.brtc, null)
  const { app } = await rig(t)
  t.ok(app.brtc?.endpoints)
  t.ok(app.brtc?.sweeper)
  t.equal(app.brtc?.endpoints.maxPerCaller, 5, 'BRTC_MAX_ENDPOINTS_PER_CALLER\'s default')
  t.equal(app.brtc?.keys.generations, 1, 'the owner-tag key is derived once the app is ready')
})

t.test('the sweep runs every BRTC_SWEEP_INTERVAL_SECONDS once ready, on the injected clock, and is counted', async (t) => {
  const clock = new FakeClock({ wall: Date.now() })
  const { app, emulator, logs } = await rig(t, { clock, env: { BRTC_SWEEP_INTERVAL_SECONDS: '60', LOG_LEVEL: 'info' } })
  // Expired endpoints of this service (one created through it, born expired, one tagged directly), and someone else's.
  emulator.setEndpointLifetime(-30)
  t.equal((await app.inject({ method: 'POST', url: ROUTE, headers: KEY })).statusCode, 503)
  await createDirectly(emulator, { tag: 'wts1.previous-key-of-someone' })
  const foreign = await createDirectly(emulator, { tag: 'room-7' })
  emulator.setEndpointLifetime(86_400)
  t.equal(emulator.stats().brtc.operations.list, 0)

  await clock.advanceAsync(59_999)
  t.equal(emulator.stats().brtc.operations.list, 0, 'not before the interval')
  await clock.advanceAsync(1)
  const metrics = async (): Promise<string> => (await app.inject({ url: '/metrics' })).body
  await eventually(async () => sample(await metrics(), 'brtc_sweeps_total{outcome="success"}') === 1, 'the first sweep')
  t.equal(sample(await metrics(), 'brtc_sweep_deleted_total'), 2)
  t.same(emulator.brtcEndpoints().map((e) => e.endpointId), [foreign])
  t.match(parsedLogs(logs).find((l) => l.msg === 'brtc sweep: expired endpoints deleted'), { component: 'brtc', deleted: 2, pages: 1 })

  await clock.advanceAsync(60_000)
  await eventually(async () => sample(await metrics(), 'brtc_sweeps_total{outcome="success"}') === 2, 'the second sweep')
  t.equal(emulator.stats().brtc.operations.list, 2)
})

t.test('closing the app cuts a sweep in flight short', async (t) => {
  const clock = new FakeClock({ wall: Date.now() })
  const emulator = await startBrtcEmulator(t)
  const { app } = await rig(t, { clock, emulator, env: { BRTC_SWEEP_INTERVAL_SECONDS: '60', UPSTREAM_TIMEOUT_MS: '60000' } })
  emulator.setFault('brtc', { kind: 'hang', operation: 'list' })
  await clock.advanceAsync(60_000)
  await eventually(() => emulator.brtcRequests().some((r) => r.outcome === 'hang'), 'a sweep waiting on the provider')
  await t.resolves(app.close(), 'closed without waiting for the provider (whose timeout is 60 s on a clock that does not move)')
  t.equal(clock.pendingTimers(), 0, 'no sweep timer left')
})

t.test('closing the app answers a create waiting on a hung provider with its 503 at once', async (t) => {
  const clock = new FakeClock({ wall: Date.now() })
  const emulator = await startBrtcEmulator(t)
  const { app } = await rig(t, { clock, emulator, env: { UPSTREAM_TIMEOUT_MS: '60000' } })
  emulator.setFault('brtc', { kind: 'hang', operation: 'create' })
  const pending = app.inject({ method: 'POST', url: ROUTE, headers: KEY })
  await eventually(() => emulator.brtcRequests().some((r) => r.outcome === 'hang'), 'the create reached the emulator')
  const closed = app.close()
  const res = await pending
  t.equal(res.statusCode, 503, 'on a clock that does not move, so not by the 60 s timeout')
  t.equal(res.json().code, 'UPSTREAM_UNAVAILABLE')
  t.ok(Number(res.headers['retry-after']) >= 1, 'with Retry-After')
  await t.resolves(closed)
})

t.test('a restart with the same secret recognises the caller\'s endpoints', async (t) => {
  const emulator = await startBrtcEmulator(t)
  const first = await rig(t, { emulator })
  const mine = (await first.app.inject({ method: 'POST', url: ROUTE, headers: KEY })).json()
  await first.app.close()
  const second = await rig(t, { emulator })
  const listed = (await second.app.inject({ url: ROUTE, headers: KEY })).json().endpoints
  t.same(listed.map((e: { endpoint_id: string }) => e.endpoint_id), [mine.endpoint_id])
  t.same((await second.app.inject({ url: ROUTE, headers: OTHER })).json().endpoints, [], 'and to no one else')
  t.equal((await second.app.inject({ method: 'DELETE', url: `${ROUTE}/${mine.endpoint_id as string}`, headers: OTHER })).statusCode, 404)
  t.equal((await second.app.inject({ method: 'DELETE', url: `${ROUTE}/${mine.endpoint_id as string}`, headers: KEY })).statusCode, 204)
})

t.test('a rotated secret: the caller keeps its endpoints in this process; nobody gets anyone else\'s', async (t) => {
  const dir = t.testdir({ secret: OLD_SECRET })
  const emulator = await startBrtcEmulator(t, { tenants: { bandwidth: { clientId: 'bw-client', clientSecret: OLD_SECRET } } })
  const reloadClock = new FakeClock()
  const env = { BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, 'secret'), SECRET_FILES_POLL_SECONDS: '3600', BRTC_MAX_ENDPOINTS_PER_CALLER: '2' }
  const { app, emulator: emu } = await rig(t, { emulator, env, reload: { clock: reloadClock, settleMs: 50 } })
  const post = async (headers: Record<string, string>): Promise<{ statusCode: number, json: () => { endpoint_id: string } }> => await app.inject({ method: 'POST', url: ROUTE, headers })
  const before = (await post(KEY)).json().endpoint_id
  const theirsBefore = (await post(OTHER)).json().endpoint_id
  const oldTag = emu.brtcEndpoints().find((e) => e.endpointId === before)?.tag

  // Bandwidth's rotation: a second secret, then the file, then the old one revoked.
  emu.setSecondarySecret('bandwidth', NEW_SECRET)
  writeFileSync(join(dir, 'secret'), NEW_SECRET)
  const reload = app.reloadConfig()
  await reloadClock.advanceAsync(50)
  t.same(await reload, { outcome: 'reloaded', changed: ['BANDWIDTH_CLIENT_SECRET'] })
  emu.setCredentials('bandwidth', 'bw-client', NEW_SECRET)
  emu.setSecondarySecret('bandwidth', null)
  t.equal(app.brtc?.keys.generations, 2, 'the new key is derived at the reload')

  const after = (await post(KEY)).json().endpoint_id
  const newTag = emu.brtcEndpoints().find((e) => e.endpointId === after)?.tag
  t.not(newTag, oldTag, 'new endpoints get the new key\'s tag')
  t.equal((await post(KEY)).statusCode, 409, 'the earlier endpoint still counts toward the cap (2)')
  const mine = (await app.inject({ url: ROUTE, headers: KEY })).json().endpoints.map((e: { endpoint_id: string }) => e.endpoint_id)
  t.same(mine.sort(), [before, after].sort(), 'both keys\' endpoints are the caller\'s')
  const theirs = (await app.inject({ url: ROUTE, headers: OTHER })).json().endpoints.map((e: { endpoint_id: string }) => e.endpoint_id)
  t.same(theirs, [theirsBefore], 'the other caller sees only its own')
  t.equal((await app.inject({ method: 'DELETE', url: `${ROUTE}/${theirsBefore}`, headers: KEY })).statusCode, 404, 'no one else\'s, under either key')
  t.equal((await app.inject({ method: 'DELETE', url: `${ROUTE}/${before}`, headers: OTHER })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: `${ROUTE}/${before}`, headers: KEY })).statusCode, 204, 'the caller deletes its pre-rotation endpoint')
})

t.test('after a restart with the rotated secret, pre-rotation endpoints are no one\'s, do not count, and are swept once expired', async (t) => {
  const emulator = await startBrtcEmulator(t, { tenants: { bandwidth: { clientId: 'bw-client', clientSecret: OLD_SECRET } } })
  const before = await rig(t, { emulator, env: { BANDWIDTH_CLIENT_SECRET: OLD_SECRET, BRTC_MAX_ENDPOINTS_PER_CALLER: '1' } })
  // Expires between the first sweep (fake clock + 300 s) and the second (+ 600 s).
  emulator.setEndpointLifetime(450)
  const old = (await before.app.inject({ method: 'POST', url: ROUTE, headers: KEY })).json().endpoint_id
  await before.app.close()

  emulator.setCredentials('bandwidth', 'bw-client', NEW_SECRET)
  const clock = new FakeClock({ wall: Date.now() })
  emulator.setEndpointLifetime(86_400)
  const { app } = await rig(t, { emulator, clock, env: { BANDWIDTH_CLIENT_SECRET: NEW_SECRET, BRTC_MAX_ENDPOINTS_PER_CALLER: '1', BRTC_SWEEP_INTERVAL_SECONDS: '300' } })
  for (const headers of [KEY, OTHER]) {
    t.same((await app.inject({ url: ROUTE, headers })).json().endpoints, [], 'listed to no one')
    t.equal((await app.inject({ method: 'DELETE', url: `${ROUTE}/${old as string}`, headers })).statusCode, 404, 'deletable by no one')
  }
  const fresh = await app.inject({ method: 'POST', url: ROUTE, headers: KEY })
  t.equal(fresh.statusCode, 201, 'not counted toward the caller\'s cap of 1')
  t.equal(emulator.brtcEndpoints().length, 2)

  const lists = emulator.stats().brtc.operations.list
  await clock.advanceAsync(300_000)
  await eventually(() => emulator.stats().brtc.operations.list === lists + 1, 'a sweep before it expired')
  await eventually(async () => sample((await app.inject({ url: '/metrics' })).body, 'brtc_sweeps_total{outcome="success"}') === 1, 'counted')
  t.equal(emulator.brtcEndpoints().length, 2, 'still live: kept')
  await clock.advanceAsync(300_000)
  await eventually(() => emulator.brtcEndpoints().length === 1, 'swept once expired')
  t.same(emulator.brtcEndpoints().map((e) => e.endpointId), [fresh.json().endpoint_id])
})
