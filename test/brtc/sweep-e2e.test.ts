// The sweep against the emulated Endpoints API over real HTTP, with small pages so that it follows
// the emulator's real `next` links and cursors over several pages: it deletes exactly this
// service's expired endpoints, and leaves every live one, every untagged one and every one with
// another tag alone, however long expired. A 429 with Retry-After on delete pauses it on the fake
// clock until then; a hung provider is cut by the timeout; a dropped connection fails the sweep.
import t, { type Test } from 'tap'
import { BrtcApiClient } from '../../src/brtc/api-client.js'
import { Sweeper } from '../../src/brtc/sweeper.js'
import { Secret } from '../../src/lib/secret.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { eventually } from '../helpers/eventually.js'
import { ACCOUNT, BRTC_CLIENT, createDirectly, startBrtcEmulator } from '../helpers/brtc-rig.js'
import { bandwidthToken } from '../helpers/emulator.js'
import type { UpstreamEmulator } from '../../emulator/upstream-emulator.js'

async function setup (t: Test, pageLimit = 4) {
  const emulator = await startBrtcEmulator(t)
  const clock = new FakeClock({ wall: Date.now() })
  const token = await bandwidthToken(emulator, BRTC_CLIENT)
  const api = new BrtcApiClient({
    apiUrl: new URL(emulator.brtcApiUrl),
    accountId: ACCOUNT,
    accessToken: async () => new Secret(token),
    timeoutMs: 3000,
    clock,
    pageLimit
  })
  return { emulator, clock, api }
}

/** 6 expired of this service, 4 live of this service, 4 untagged and 4 foreign-tagged, all expired but the live ones: 18, interleaved. */
async function populate (emulator: UpstreamEmulator): Promise<{ expiredOurs: string[], kept: string[] }> {
  const expiredOurs: string[] = []
  const kept: string[] = []
  for (let i = 0; i < 6; i++) {
    emulator.setEndpointLifetime(-60)
    expiredOurs.push(await createDirectly(emulator, { tag: `wts1.owner-${i % 3}` }))
    kept.push(await createDirectly(emulator, i % 2 === 0 ? {} : { tag: `room-${i}` }))
    if (i < 4) {
      emulator.setEndpointLifetime(3600)
      kept.push(await createDirectly(emulator, { tag: `wts1.live-${i}` }))
    }
  }
  emulator.setEndpointLifetime(-60)
  kept.push(await createDirectly(emulator, { tag: 'WTS1.not-ours' }), await createDirectly(emulator, { tag: 'xwts1.not-ours' }))
  return { expiredOurs, kept }
}

t.test('several pages: only expired wts1. endpoints are deleted', async (t) => {
  const { emulator, clock, api } = await setup(t)
  const { expiredOurs, kept } = await populate(emulator)
  t.equal(emulator.brtcEndpoints().length, 18)
  const result = await new Sweeper({ api, clock, intervalMs: 60_000 }).runOnce()
  t.same(result, { outcome: 'success', pages: 5, expired: 6, deleted: 6, gone: 0 })
  t.same(emulator.brtcEndpoints().map((e) => e.endpointId).sort(), [...kept].sort(), 'the rest is untouched')
  const lists = emulator.brtcRequests().filter((r) => r.operation === 'list')
  t.equal(lists.length, 5)
  t.same(lists.map((r) => r.query.find(([name]) => name === 'limit')?.[1]), ['4', '4', '4', '4', '4'])
  t.equal(lists[0]?.query.some(([name]) => name === 'afterCursor'), false)
  t.ok(lists.slice(1).every((r) => r.query.some(([name]) => name === 'afterCursor')), 'each next page by the cursor of the link')
  t.same(emulator.brtcRequests().filter((r) => r.operation === 'delete').map((r) => r.endpointId).sort(), [...expiredOurs].sort())
  t.ok(emulator.brtcRequests().every((r) => r.authScheme === 'Bearer'))

  const again = await new Sweeper({ api, clock, intervalMs: 60_000 }).runOnce()
  t.match(again, { outcome: 'success', expired: 0, deleted: 0 }, 'nothing left to sweep')
})

t.test('a 429 on delete: paused for its Retry-After on the clock, then resumed', async (t) => {
  const { emulator, clock, api } = await setup(t, 1000)
  emulator.setEndpointLifetime(-60)
  const ids = [await createDirectly(emulator, { tag: 'wts1.a' }), await createDirectly(emulator, { tag: 'wts1.b' })]
  emulator.setFault('brtc', { kind: 'status', status: 429, retryAfter: '12', operation: 'delete' })
  const run = new Sweeper({ api, clock, intervalMs: 60_000 }).runOnce()
  // Two timers: the Retry-After's, and the end of the sweep's interval after it.
  await eventually(async () => { await settle(); return clock.pendingTimers() === 2 && clock.nextTimerIn() === 12_000 }, 'waiting out the Retry-After')
  t.equal(emulator.brtcRequests().filter((r) => r.operation === 'delete').length, 1)
  emulator.setFault('brtc', null)
  clock.advance(12_000)
  t.match(await run, { outcome: 'success', deleted: 2 })
  t.same(emulator.brtcEndpoints().filter((e) => ids.includes(e.endpointId)), [])
})

t.test('a hung list is cut by the timeout; a dropped connection fails the sweep', async (t) => {
  const { emulator, clock, api } = await setup(t)
  emulator.setFault('brtc', { kind: 'hang', operation: 'list' })
  const run = new Sweeper({ api, clock, intervalMs: 60_000 }).runOnce()
  await eventually(() => emulator.brtcRequests().some((r) => r.outcome === 'hang'), 'the list reached the emulator')
  clock.advance(3000)
  t.match(await run, { outcome: 'failed', pages: 0 })
  emulator.setFault('brtc', { kind: 'drop', operation: 'list' })
  t.match(await new Sweeper({ api, clock, intervalMs: 60_000 }).runOnce(), { outcome: 'failed' })
  emulator.setFault('brtc', { kind: 'status', status: 403 })
  t.match(await new Sweeper({ api, clock, intervalMs: 60_000 }).runOnce(), { outcome: 'failed' })
})
