// The sweep (src/brtc/sweeper.ts) on a fake clock with a scripted Endpoints API: it pages through
// every page, deletes only expired endpoints tagged `wts1.`, never an untagged or foreign one nor
// one still live; it runs every interval and never two at once; it pauses for a 429's Retry-After
// and gives up after its budget of pauses or its interval; other failures end the sweep; a held lock skips it; stop() cuts
// a sweep short and releases the lock. The emulator-backed sweep is in sweep-e2e.test.ts.
import t from 'tap'
import { BrtcApiError, type BrtcEndpoint, type EndpointPage } from '../../src/brtc/api-client.js'
import { Sweeper, type SweepLock, type SweepResult } from '../../src/brtc/sweeper.js'
import { upstreamUnavailable } from '../../src/lib/errors.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { deferred } from '../helpers/fake-provider.js'
import { captureLogger } from '../helpers/capture-logger.js'

const INTERVAL = 300_000

function endpoint (id: string, tag: string | undefined, expiresAtMs: number): BrtcEndpoint {
  return { endpointId: id, status: 'DISCONNECTED', expiresAtMs, tag }
}

interface FakeApi {
  listPage: (afterCursor?: string, signal?: AbortSignal) => Promise<EndpointPage>
  delete: (endpointId: string, signal?: AbortSignal) => Promise<'deleted' | 'gone'>
  lists: Array<string | undefined>
  deletes: string[]
}

/** Pages of endpoints, cursors 'c1', 'c2', …; deletes answer 'deleted' unless told otherwise. */
function fakeApi (pages: BrtcEndpoint[][], overrides: Partial<Pick<FakeApi, 'listPage' | 'delete'>> = {}): FakeApi {
  const api: FakeApi = {
    lists: [],
    deletes: [],
    async listPage (afterCursor) {
      api.lists.push(afterCursor)
      const index = afterCursor === undefined ? 0 : Number(afterCursor.slice(1))
      return { endpoints: pages[index] ?? [], nextCursor: index + 1 < pages.length ? `c${index + 1}` : undefined }
    },
    async delete (endpointId) {
      api.deletes.push(endpointId)
      return 'deleted'
    },
    ...overrides
  }
  return api
}

t.test('pages through everything; deletes expired wts1. endpoints only', async (t) => {
  const clock = new FakeClock()
  const now = clock.wall()
  const api = fakeApi([
    [endpoint('e-1', 'wts1.a', now - 1), endpoint('e-2', undefined, now - 1000), endpoint('e-3', 'wts1.b', now + 60_000)],
    [endpoint('e-4', 'room-7', now - 1000), endpoint('e-5', 'wts1.a', now)],
    [endpoint('e-6', 'WTS1.upper', now - 1), endpoint('e-7', 'wts1.c', now - 86_400_000), endpoint('e-8', 'xwts1.d', now - 1)]
  ])
  const log = captureLogger()
  const sweeper = new Sweeper({ api, clock, intervalMs: INTERVAL, logger: log })
  const result = await sweeper.runOnce()
  t.same(api.lists, [undefined, 'c1', 'c2'], 'every page, by cursor')
  t.same(api.deletes, ['e-1', 'e-5', 'e-7'], 'expired (at or before now) and tagged wts1. only')
  t.same(result, { outcome: 'success', pages: 3, expired: 3, deleted: 3, gone: 0 })
  const info = log.lines.find((l) => l.level === 'info')
  t.match(info, { msg: 'brtc sweep: expired endpoints deleted', obj: { outcome: 'success', pages: 3, deleted: 3 } })
  t.ok(log.lines.some((l) => l.level === 'debug' && l.obj.endpointId === 'e-7'), 'endpoint ids may be logged')
})

t.test('a 404 on delete counts as gone; a sweep with nothing to delete logs at debug', async (t) => {
  const clock = new FakeClock()
  const api = fakeApi([[endpoint('e-1', 'wts1.a', clock.wall() - 1), endpoint('e-2', 'wts1.a', clock.wall() - 1)]], {
    async delete (id) { return id === 'e-1' ? 'gone' : 'deleted' }
  })
  const log = captureLogger()
  const result = await new Sweeper({ api, clock, intervalMs: INTERVAL, logger: log }).runOnce()
  t.match(result, { outcome: 'success', deleted: 1, gone: 1 })
  const empty = captureLogger()
  t.match(await new Sweeper({ api: fakeApi([[]]), clock, intervalMs: INTERVAL, logger: empty }).runOnce(), { outcome: 'success', pages: 1, deleted: 0 })
  t.same(empty.lines.map((l) => l.level), ['debug'])
})

t.test('every interval on the injected clock; never two at once', async (t) => {
  const clock = new FakeClock()
  const gate = deferred<EndpointPage>()
  let calls = 0
  const api = fakeApi([], { async listPage () { calls++; return calls === 1 ? await gate.promise : { endpoints: [], nextCursor: undefined } } })
  const results: SweepResult[] = []
  const sweeper = new Sweeper({ api, clock, intervalMs: INTERVAL, onSweep: (r) => { results.push(r) } })
  sweeper.start()
  sweeper.start()
  t.equal(clock.pendingTimers(), 1, 'one timer, however often start() is called')
  await clock.advanceAsync(INTERVAL - 1)
  t.equal(calls, 0, 'not before the interval')
  await clock.advanceAsync(1)
  t.equal(calls, 1, 'the first sweep, one interval after start')
  const concurrent = sweeper.runOnce()
  await clock.advanceAsync(3 * INTERVAL)
  t.equal(calls, 1, 'a running sweep is never doubled, by the timer or by runOnce')
  gate.resolve({ endpoints: [], nextCursor: undefined })
  t.equal((await concurrent).outcome, 'success')
  t.equal(results.length, 1)
  await clock.advanceAsync(INTERVAL)
  t.equal(calls, 2, 'the next one an interval after the previous ended')
  await sweeper.stop()
  await clock.advanceAsync(5 * INTERVAL)
  t.equal(calls, 2, 'stopped: no more sweeps')
  t.equal(clock.pendingTimers(), 0)
  sweeper.start()
  t.equal(clock.pendingTimers(), 0, 'a stopped sweeper does not start again')
  t.same(await sweeper.runOnce(), { outcome: 'success', pages: 0, expired: 0, deleted: 0, gone: 0 }, 'nor sweeps')
})

t.test('429: pauses for its Retry-After and resumes; gives up after the budget and waits at least that long', async (t) => {
  const clock = new FakeClock()
  const now = clock.wall()
  let throttles = 2
  const sent: number[] = []
  const api = fakeApi([[endpoint('e-1', 'wts1.a', now - 1), endpoint('e-2', 'wts1.a', now - 1)]], {
    async delete (id) {
      sent.push(clock.monotonic())
      if (id === 'e-2' && throttles-- > 0) throw new BrtcApiError('delete', 'throttled', 'HTTP 429', { status: 429, retryAfterMs: 7000 })
      return 'deleted'
    }
  })
  const sweeper = new Sweeper({ api, clock, intervalMs: INTERVAL })
  const run = sweeper.runOnce()
  await clock.advanceAsync(6999)
  t.equal(sent.length, 2, 'waiting out the Retry-After')
  await clock.advanceAsync(7001)
  t.match(await run, { outcome: 'success', deleted: 2 })
  t.same(sent.map((at) => at - sent[0]!), [0, 0, 7000, 14000], 'each retry exactly the Retry-After later')

  const stubborn = fakeApi([[]], { async listPage () { throw new BrtcApiError('list', 'throttled', 'HTTP 429', { status: 429 }) } })
  let lists = 0
  const counting = { ...stubborn, listPage: async () => { lists++; return await stubborn.listPage() } }
  const results: SweepResult[] = []
  const giving = new Sweeper({ api: counting, clock, intervalMs: 30_000, maxThrottleWaits: 2, onSweep: (r) => { results.push(r) } })
  const log = captureLogger()
  const logged = new Sweeper({ api: counting, clock, intervalMs: 30_000, maxThrottleWaits: 0, logger: log })
  const result = await logged.runOnce()
  t.same(result, { outcome: 'throttled', pages: 0, expired: 0, deleted: 0, gone: 0, retryAfterMs: 1000 }, 'no Retry-After: 1 s')
  t.match(log.lines[0], { level: 'warn', msg: 'brtc sweep throttled; the next sweep tries again', obj: { errorClass: 'throttled' } })
  lists = 0
  giving.start()
  await clock.advanceAsync(30_000 + 2000)
  t.equal(lists, 3, 'the first try and two more after waiting')
  t.equal(results[0]?.outcome, 'throttled')
  await giving.stop()
})

t.test('the pause budget is per sweep, not per request', async (t) => {
  const clock = new FakeClock()
  const now = clock.wall()
  const expired = Array.from({ length: 5 }, (_, i) => endpoint(`e-${i}`, 'wts1.a', now - 1))
  const answered = new Map<string, number>()
  const api = fakeApi([expired], {
    async delete (id) {
      const tries = (answered.get(id) ?? 0) + 1
      answered.set(id, tries)
      // Each delete is throttled twice before it goes through.
      if (tries <= 2) throw new BrtcApiError('delete', 'throttled', 'HTTP 429', { status: 429, retryAfterMs: 1000 })
      return 'deleted'
    }
  })
  const run = new Sweeper({ api, clock, intervalMs: INTERVAL, maxThrottleWaits: 2 }).runOnce()
  await clock.advanceAsync(10_000)
  t.match(await run, { outcome: 'throttled', deleted: 1, retryAfterMs: 1000 }, 'two pauses in all, then it stops')
  t.same([...answered], [['e-0', 3], ['e-1', 1]], 'the first delete used both pauses; the second gets none')
})

t.test('a sweep never outlives its interval (the lock\'s lifetime): no pause past it, and a slow call is aborted at it', async (t) => {
  const clock = new FakeClock()
  const now = clock.wall()
  let deletes = 0
  const api = fakeApi([[endpoint('e-1', 'wts1.a', now - 1)]], {
    async delete () {
      deletes++
      throw new BrtcApiError('delete', 'throttled', 'HTTP 429', { status: 429, retryAfterMs: 60_000 })
    }
  })
  const run = new Sweeper({ api, clock, intervalMs: 30_000 }).runOnce()
  await settle()
  t.match(await run, { outcome: 'throttled', retryAfterMs: 60_000 }, 'a pause that would end past the interval is not taken')
  t.equal(deletes, 1)

  const log = captureLogger()
  let aborted = false
  const hanging = fakeApi([[]], {
    async listPage (_cursor, signal) {
      return await new Promise<EndpointPage>((_resolve, reject) => {
        signal?.addEventListener('abort', () => { aborted = true; reject(new Error('aborted')) })
      })
    }
  })
  const released: string[] = []
  const lock: SweepLock = { acquire: async () => 'acquired', release: async () => { released.push('released') } }
  const slow = new Sweeper({ api: hanging, clock, intervalMs: 30_000, lock, logger: log }).runOnce()
  await clock.advanceAsync(29_999)
  t.notOk(aborted, 'not before the interval ends')
  await clock.advanceAsync(1)
  t.match(await slow, { outcome: 'failed', pages: 0 })
  t.ok(aborted, 'the request in flight was aborted')
  t.same(released, [], 'the lock is left to expire with the interval, as after any sweep')
  t.match(log.lines, [{ level: 'warn', msg: 'brtc sweep ran out of its interval; the next sweep goes on' }])
  t.equal(clock.pendingTimers(), 0, 'no timer left behind')
})

t.test('a long Retry-After pushes the next sweep back', async (t) => {
  const clock = new FakeClock()
  let calls = 0
  const api = fakeApi([[]], {
    async listPage () {
      calls++
      if (calls === 1) throw new BrtcApiError('list', 'throttled', 'HTTP 429', { status: 429, retryAfterMs: 50_000 })
      return { endpoints: [], nextCursor: undefined }
    }
  })
  const sweeper = new Sweeper({ api, clock, intervalMs: 10_000, maxThrottleWaits: 0 })
  sweeper.start()
  await clock.advanceAsync(10_000)
  t.equal(calls, 1)
  await clock.advanceAsync(49_999)
  t.equal(calls, 1, 'not at the next interval: the provider asked for 50 s')
  await clock.advanceAsync(1)
  t.equal(calls, 2)
  await sweeper.stop()
})

t.test('other failures end the sweep; credentials rejected says what is missing', async (t) => {
  const clock = new FakeClock()
  const cases: Array<[unknown, string, RegExp]> = [
    [new BrtcApiError('list', 'server_error', 'HTTP 500', { status: 500 }), 'server_error', /next sweep tries again/],
    [new BrtcApiError('list', 'credentials_rejected', 'HTTP 403', { status: 403 }), 'credentials_rejected', /need the BRTC role/],
    [upstreamUnavailable('bandwidth', 'timeout', 1000), 'timeout', /next sweep tries again/],
    [Object.assign(new Error('boom'), { code: 'ECONNRESET' }), 'ECONNRESET', /next sweep tries again/]
  ]
  for (const [err, errorClass, hint] of cases) {
    const log = captureLogger()
    const api = fakeApi([[]], { async listPage () { throw err } })
    const result = await new Sweeper({ api, clock, intervalMs: INTERVAL, logger: log }).runOnce()
    t.equal(result.outcome, 'failed', errorClass)
    const warn = log.lines.find((l) => l.level === 'warn')
    t.equal(warn?.obj.errorClass, errorClass)
    t.match(warn?.msg, hint)
  }
  const deleting = fakeApi([[endpoint('e-1', 'wts1.a', clock.wall() - 1), endpoint('e-2', 'wts1.a', clock.wall() - 1)]], {
    async delete () { throw new BrtcApiError('delete', 'timeout', 'no complete response') }
  })
  t.match(await new Sweeper({ api: deleting, clock, intervalMs: INTERVAL }).runOnce(), { outcome: 'failed', expired: 2, deleted: 0 }, 'the first failing delete ends it')
})

t.test('a list that never ends stops at a repeated cursor or the page budget', async (t) => {
  const clock = new FakeClock()
  const looping = fakeApi([], { async listPage () { return { endpoints: [endpoint('e-1', 'wts1.a', clock.wall() - 1)], nextCursor: 'same' } } })
  const log = captureLogger()
  const result = await new Sweeper({ api: looping, clock, intervalMs: INTERVAL, logger: log }).runOnce()
  t.match(result, { outcome: 'success', pages: 2 })
  t.ok(log.lines.some((l) => l.level === 'warn' && /does not end/.test(l.msg)))
  let n = 0
  const endless = fakeApi([], { async listPage () { return { endpoints: [], nextCursor: `c${++n}` } } })
  t.match(await new Sweeper({ api: endless, clock, intervalMs: INTERVAL, maxPages: 5 }).runOnce(), { pages: 5 })
})

t.test('the lock: held elsewhere skips; acquired or unavailable sweeps; stop() mid-sweep releases it', async (t) => {
  const clock = new FakeClock()
  const events: string[] = []
  const lockOf = (answer: 'acquired' | 'held' | 'unavailable'): SweepLock => ({
    async acquire () { events.push(`acquire:${answer}`); return answer },
    async release () { events.push('release') }
  })
  const api = fakeApi([[endpoint('e-1', 'wts1.a', clock.wall() - 1)]])
  const reported: SweepResult[] = []
  t.match(await new Sweeper({ api, clock, intervalMs: INTERVAL, lock: lockOf('held'), onSweep: (r) => { reported.push(r) } }).runOnce(), { outcome: 'locked', pages: 0 })
  t.same(api.lists, [], 'another replica sweeps this interval')
  t.same(reported.map((r) => r.outcome), ['locked'], 'and it is reported (metrics)')
  t.match(await new Sweeper({ api, clock, intervalMs: INTERVAL, lock: lockOf('acquired') }).runOnce(), { outcome: 'success', deleted: 1 })
  t.match(await new Sweeper({ api, clock, intervalMs: INTERVAL, lock: lockOf('unavailable') }).runOnce(), { outcome: 'success', deleted: 1 }, 'no lock to be had: sweeps alone')
  t.same(events, ['acquire:held', 'acquire:acquired', 'acquire:unavailable'], 'a finished sweep keeps the lock: it marks the interval as swept')

  events.length = 0
  const waiting = fakeApi([[endpoint('e-1', 'wts1.a', clock.wall() - 1)]], {
    async delete () { throw new BrtcApiError('delete', 'throttled', 'HTTP 429', { retryAfterMs: 30_000 }) }
  })
  const sweeper = new Sweeper({ api: waiting, clock, intervalMs: INTERVAL, lock: lockOf('acquired') })
  const run = sweeper.runOnce()
  await settle()
  t.equal(clock.pendingTimers(), 2, 'waiting out a Retry-After, within the interval')
  await sweeper.stop()
  t.match(await run, { outcome: 'failed', deleted: 0 })
  t.same(events, ['acquire:acquired', 'release'], 'released, so another replica can take over')
  t.equal(clock.pendingTimers(), 0)

  events.length = 0
  const hanging = fakeApi([], {
    async listPage (_cursor, signal) {
      return await new Promise((_resolve, reject) => { signal?.addEventListener('abort', () => { reject(new BrtcApiError('list', 'network', 'request aborted')) }) })
    }
  })
  const hung = new Sweeper({ api: hanging, clock, intervalMs: INTERVAL, lock: lockOf('acquired') })
  const pending = hung.runOnce()
  await settle()
  await hung.stop()
  t.match(await pending, { outcome: 'failed' })
  t.same(events, ['acquire:acquired', 'release'], 'a request in flight is aborted, and the lock released')
})

t.test('stopped just as the provider throttles: no wait, the sweep ends', async (t) => {
  const clock = new FakeClock()
  let stopping: Promise<void> | undefined
  const api = fakeApi([[endpoint('e-1', 'wts1.a', clock.wall() - 1)]], {
    async delete () {
      stopping = sweeper.stop()
      throw new BrtcApiError('delete', 'throttled', 'HTTP 429', { retryAfterMs: 5000 })
    }
  })
  const sweeper = new Sweeper({ api, clock, intervalMs: INTERVAL })
  t.match(await sweeper.runOnce(), { outcome: 'failed', deleted: 0 })
  await stopping
  t.equal(clock.pendingTimers(), 0, 'no Retry-After timer was set')
})

t.test('a throwing onSweep listener does not stop the sweeps; a bad interval is refused', async (t) => {
  const clock = new FakeClock()
  const api = fakeApi([[]])
  const sweeper = new Sweeper({ api, clock, intervalMs: 1000, onSweep: () => { throw new Error('metrics broke') } })
  sweeper.start()
  await clock.advanceAsync(3000)
  t.equal(api.lists.length, 3)
  await sweeper.stop()
  t.throws(() => new Sweeper({ api, intervalMs: 0 }), RangeError)
})
