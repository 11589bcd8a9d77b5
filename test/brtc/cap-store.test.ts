// The in-memory cap (src/brtc/cap-store.ts): reservations count, confirm turns one into the
// endpoint's slot (a lapsed one only below the cap), cancel frees it, expiry frees both, every tag
// of a caller counts (rotation), many concurrent reservations at the cap never exceed it, and prune
// forgets idle callers.
import t from 'tap'
import { MemoryCapStore } from '../../src/brtc/cap-store.js'
import { FakeClock } from '../helpers/fake-clock.js'

const HOUR = 3_600_000

function store (clock = new FakeClock()): { caps: MemoryCapStore, clock: FakeClock } {
  return { caps: new MemoryCapStore({ clock, reservationMs: 15_000 }), clock }
}

t.test('reserve up to the cap; confirm keeps the slot, cancel frees it', async (t) => {
  const { caps, clock } = store()
  const a = await caps.reserve(['tag-a'], 2)
  const b = await caps.reserve(['tag-a'], 2)
  t.ok(a !== undefined && b !== undefined)
  t.equal(await caps.reserve(['tag-a'], 2), undefined, 'at the cap')
  t.ok(await caps.reserve(['tag-b'], 2), 'another caller has its own cap')
  t.equal(a?.shared, false)
  t.match(a?.member, /^r:/)
  await caps.confirm(a!, 'e-1', clock.wall() + HOUR)
  await caps.cancel(b!)
  t.ok(await caps.holds(['tag-a'], 'e-1'))
  t.notOk(await caps.holds(['tag-b'], 'e-1'), 'held for its owner only')
  t.ok(await caps.reserve(['tag-a'], 2), 'the cancelled slot is free again')
  t.equal(await caps.reserve(['tag-a'], 2), undefined)
})

t.test('expiry frees slots: an endpoint at its expiry, a reservation never confirmed', async (t) => {
  const { caps, clock } = store()
  const r = await caps.reserve(['tag'], 1)
  await caps.confirm(r!, 'e-1', clock.wall() + 10_000)
  t.equal(await caps.reserve(['tag'], 1), undefined)
  clock.advance(10_000)
  t.notOk(await caps.holds(['tag'], 'e-1'), 'expired')
  const stale = await caps.reserve(['tag'], 1)
  t.ok(stale, 'the expired endpoint no longer counts')
  t.equal(await caps.reserve(['tag'], 1), undefined, 'the reservation counts')
  clock.advance(15_000)
  t.ok(await caps.reserve(['tag'], 1), 'an unconfirmed reservation frees itself')
  caps.record('tag', 'e-old', clock.wall() - 1)
  t.notOk(await caps.holds(['tag'], 'e-old'), 'recording an expired endpoint counts nothing')
})

t.test('every tag of the caller counts; the slot goes under the first one; release frees it under any', async (t) => {
  const { caps, clock } = store()
  caps.record('old-tag', 'e-old', clock.wall() + HOUR)
  const r = await caps.reserve(['new-tag', 'old-tag'], 2)
  t.ok(r)
  t.same(r?.ids, ['new-tag', 'old-tag'])
  await caps.confirm(r!, 'e-new', clock.wall() + HOUR)
  t.equal(await caps.reserve(['new-tag', 'old-tag'], 2), undefined, 'the old key\'s endpoint counts')
  t.ok(await caps.reserve(['new-tag'], 2), 'after a restart only the current tag counts')
  t.ok(await caps.holds(['new-tag', 'old-tag'], 'e-old'))
  await caps.release(['new-tag', 'old-tag'], 'e-old')
  t.notOk(await caps.holds(['old-tag'], 'e-old'))
  await caps.release(['nobody'], 'e-new')
  t.ok(await caps.holds(['new-tag'], 'e-new'), 'another caller\'s release frees nothing of this one')
})

t.test('a reservation that lapsed confirms only below its cap', async (t) => {
  const { caps, clock } = store()
  const slow = await caps.reserve(['tag'], 1)
  t.equal(slow?.max, 1, 'the reservation carries its cap')
  clock.advance(15_000)
  const fast = await caps.reserve(['tag'], 1)
  t.ok(fast, 'the lapsed reservation no longer holds the slot')
  t.equal(await caps.confirm(fast!, 'e-fast', clock.wall() + HOUR), true)
  t.equal(await caps.confirm(slow!, 'e-slow', clock.wall() + HOUR), false, 'the cap filled meanwhile')
  t.notOk(await caps.holds(['tag'], 'e-slow'), 'nothing counted')
  await caps.release(['tag'], 'e-fast')
  const again = await caps.reserve(['tag'], 1)
  clock.advance(15_000)
  t.equal(await caps.confirm(again!, 'e-late', clock.wall() + HOUR), true, 'room left: counted')
  t.equal(await caps.reserve(['tag'], 1), undefined, 'and holds the slot')
})

t.test('100 concurrent creates at a cap of 3: exactly 3 slots', async (t) => {
  const { caps } = store()
  const results = await Promise.all(Array.from({ length: 100 }, async () => await caps.reserve(['tag'], 3)))
  t.equal(results.filter((r) => r !== undefined).length, 3)
})

t.test('prune forgets callers whose slots all expired', async (t) => {
  const { caps, clock } = store()
  caps.record('a', 'e-1', clock.wall() + 1000)
  caps.record('b', 'e-2', clock.wall() + HOUR)
  t.equal(caps.size, 2)
  clock.advance(1000)
  caps.prune()
  t.equal(caps.size, 1)
  await caps.release(['b'], 'e-2')
  t.equal(caps.size, 0, 'a caller with no slot left is forgotten')
  const r = await caps.reserve(['c'], 1)
  await caps.cancel(r!)
  t.equal(caps.size, 0)
})
