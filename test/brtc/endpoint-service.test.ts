// The domain side of the endpoint routes (src/brtc/endpoint-service.ts) with a scripted API:
// the cap reserved before the provider is called and given back when the call fails; the
// provider's failures turned into the service's errors (429 → 503 with its Retry-After, 401/403
// → 502 and one error line until the next success, the rest → 503); an endpoint born expired;
// a create whose answer was lost reconciled from the list; a create that outlives its reservation
// held to the cap again; listing across pages and keys; deleting one's own, someone else's (404),
// one already gone.
import t from 'tap'
import { callerOf } from '../../src/auth/credentials.js'
import { BrtcApiError, type BrtcEndpoint, type CreatedEndpoint, type EndpointPage } from '../../src/brtc/api-client.js'
import { MemoryCapStore } from '../../src/brtc/cap-store.js'
import { EndpointService, MAX_LIST_PAGES } from '../../src/brtc/endpoint-service.js'
import { OwnerKeys, type Owner } from '../../src/brtc/owner-tag.js'
import { AppError, upstreamUnavailable } from '../../src/lib/errors.js'
import { Secret } from '../../src/lib/secret.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { deferred } from '../helpers/fake-provider.js'
import { rejection } from '../helpers/rejection.js'

const HOUR = 3_600_000
const TOKEN = 'endpoint-token-abcdef0123456789'

interface Api {
  create: (request: { tag: string }) => Promise<CreatedEndpoint>
  listPage: (afterCursor?: string) => Promise<EndpointPage>
  get: (id: string) => Promise<BrtcEndpoint | undefined>
  delete: (id: string) => Promise<'deleted' | 'gone'>
}

function setup (api: Partial<Api>, max = 2) {
  const clock = new FakeClock()
  const log = captureLogger()
  const caps = new MemoryCapStore({ clock, reservationMs: 15_000 })
  const keys = new OwnerKeys({ secret: () => new Secret('secret'), accountId: '9900000' })
  const fail = async (): Promise<never> => { throw new Error('not scripted') }
  const service = new EndpointService({
    api: { create: fail, listPage: fail, get: fail, delete: fail, ...api },
    caps,
    keys,
    clock,
    logger: log,
    maxPerCaller: max
  })
  return { service, clock, log, caps }
}

const appError = async (p: Promise<unknown>): Promise<AppError> => await rejection(p, AppError)

t.test('create: the tag of the current key; a cap of 2 refuses the third with 409 ENDPOINT_LIMIT', async (t) => {
  let n = 0
  const tags: string[] = []
  const { service, clock } = setup({
    async create ({ tag }) {
      tags.push(tag)
      return { endpointId: `e-${++n}`, status: 'DISCONNECTED', expiresAtMs: clock.wall() + HOUR + 999, tag, token: new Secret(`${TOKEN}-${n}`) }
    }
  })
  const owner = await service.owner(callerOf('api_key', 'web'))
  const first = await service.create(owner)
  t.equal(first.endpointId, 'e-1')
  t.equal(first.token.reveal(), `${TOKEN}-1`)
  t.equal(first.expiresIn, 3600, 'whole seconds, rounded down')
  t.equal(first.expiresAt, new Date(clock.wall() + HOUR + 999).toISOString())
  t.match(first.tokenSha256, /^[0-9a-f]{16}$/)
  t.same(tags, [owner.tag])
  await service.create(owner)
  const limit = await appError(service.create(owner))
  t.equal(limit.statusCode, 409)
  t.equal(limit.code, 'ENDPOINT_LIMIT')
  t.equal(n, 2, 'the provider is not called at the cap')
  const other = await service.owner(callerOf('jwt', 'web'))
  t.equal((await service.create(other)).endpointId, 'e-3', 'a JWT caller named like the key has its own cap')
})

t.test('a failed create gives its slot back', async (t) => {
  let fail = true
  const { service, clock } = setup({
    async create ({ tag }) {
      if (fail) throw new BrtcApiError('create', 'server_error', 'HTTP 500', { status: 500 })
      return { endpointId: 'e-ok', status: 'DISCONNECTED', expiresAtMs: clock.wall() + HOUR, tag, token: new Secret(TOKEN) }
    }
  }, 1)
  const owner = await service.owner(callerOf('api_key', 'web'))
  for (let i = 0; i < 3; i++) t.equal((await appError(service.create(owner))).statusCode, 503)
  fail = false
  t.equal((await service.create(owner)).endpointId, 'e-ok', 'no slot was kept by the failures')
})

t.test('a create whose answer was lost: the endpoint it made takes its slot; if it made none, the slot is freed', async (t) => {
  for (const lost of [
    new BrtcApiError('create', 'timeout', 'no complete response'),
    new BrtcApiError('create', 'network', 'request failed'),
    new BrtcApiError('create', 'bad_response', 'the answer is not an endpoint with a token', { status: 201 })
  ]) {
    const made: BrtcEndpoint[] = []
    let makes = true
    let n = 0
    const { service, clock, log } = setup({
      async create ({ tag }) {
        const endpoint = { endpointId: `e-${++n}`, status: 'DISCONNECTED', expiresAtMs: clock.wall() + HOUR, tag }
        if (makes) made.push(endpoint)
        if (n === 1) throw lost
        return { ...endpoint, token: new Secret(TOKEN) }
      },
      async listPage () { return { endpoints: made, nextCursor: undefined } }
    }, 1)
    const owner = await service.owner(callerOf('api_key', 'web'))
    t.equal((await appError(service.create(owner))).statusCode, 503, `${lost.errorClass}: the caller gets its 503`)
    t.equal((await appError(service.create(owner))).code, 'ENDPOINT_LIMIT', `${lost.errorClass}: the endpoint made counts toward the cap`)
    t.same((await service.list(owner)).map((e) => e.endpointId), ['e-1'], 'as the caller\'s list shows')
    t.ok(log.lines.some((l) => l.level === 'warn' && l.msg.includes('answer was lost') && l.obj?.endpointId === 'e-1'), 'and says so')

    // The provider made nothing this time: the slot is given back.
    made.length = 0
    makes = false
    n = 0
    const second = setup({
      async create () { n++; throw lost },
      async listPage () { return { endpoints: [], nextCursor: undefined } }
    }, 1)
    const again = await second.service.owner(callerOf('api_key', 'web'))
    await appError(second.service.create(again))
    t.equal((await appError(second.service.create(again))).code, 'UPSTREAM_UNAVAILABLE', `${lost.errorClass}: nothing made, so not at the cap`)
  }

  // The list fails too: the slot stays reserved until the reservation frees itself.
  const { service, clock } = setup({
    async create () { throw new BrtcApiError('create', 'timeout', 'no complete response') },
    async listPage () { throw new BrtcApiError('list', 'timeout', 'no complete response') }
  }, 1)
  const owner = await service.owner(callerOf('api_key', 'web'))
  await appError(service.create(owner))
  t.equal((await appError(service.create(owner))).code, 'ENDPOINT_LIMIT', 'unknown: the slot is kept')
  clock.advance(15_000)
  t.equal((await appError(service.create(owner))).code, 'UPSTREAM_UNAVAILABLE', 'until the reservation frees itself')
})

t.test('a lost answer beside another create of the owner in flight: no endpoint is claimed, so none is counted twice', async (t) => {
  const made: BrtcEndpoint[] = []
  const release = deferred()
  let n = 0
  const { service, clock, caps } = setup({
    async create ({ tag }) {
      const endpoint = { endpointId: `e-${++n}`, status: 'DISCONNECTED', expiresAtMs: clock.wall() + HOUR, tag }
      made.push(endpoint)
      // The first create's answer is slow; the second's is lost.
      if (n === 1) await release.promise
      else throw new BrtcApiError('create', 'timeout', 'no complete response')
      return { ...endpoint, token: new Secret(TOKEN) }
    },
    async listPage () { return { endpoints: made, nextCursor: undefined } }
  }, 2)
  const owner = await service.owner(callerOf('api_key', 'web'))
  const slow = service.create(owner)
  t.equal((await appError(service.create(owner))).statusCode, 503, 'the lost one')
  t.notOk(await caps.holds(owner.tags, 'e-1'), 'the slow create\'s endpoint was not claimed')
  release.resolve()
  t.equal((await slow).endpointId, 'e-1')
  t.equal((await appError(service.create(owner))).code, 'ENDPOINT_LIMIT', 'two endpoints, two slots: the lost one\'s is still reserved')
})

t.test('a create that outlives its reservation: counted while the cap has room; else its endpoint is deleted and 409', async (t) => {
  const deleted: string[] = []
  let gate = deferred()
  let failDelete = false
  let slowNext = true
  let n = 0
  const { service, clock, caps, log } = setup({
    async create ({ tag }) {
      const endpoint = { endpointId: `e-${++n}`, status: 'DISCONNECTED', expiresAtMs: clock.wall() + HOUR, tag }
      // The first create of each round is slow (a slow account token, say).
      if (slowNext) {
        slowNext = false
        await gate.promise
      }
      return { ...endpoint, token: new Secret(TOKEN) }
    },
    async delete (id) {
      if (failDelete) throw new BrtcApiError('delete', 'timeout', 'no complete response')
      deleted.push(id)
      return 'deleted'
    }
  }, 1)
  const owner = await service.owner(callerOf('api_key', 'web'))

  // Round 1: the slow create's reservation lapses, another create takes the slot and confirms.
  const slow = service.create(owner)
  t.equal((await appError(service.create(owner))).code, 'ENDPOINT_LIMIT', 'the reservation holds the slot while it lasts')
  clock.advance(15_000)
  t.equal((await service.create(owner)).endpointId, 'e-2', 'the lapsed reservation no longer holds the slot')
  gate.resolve()
  const refused = await appError(slow)
  t.equal(refused.statusCode, 409)
  t.equal(refused.code, 'ENDPOINT_LIMIT', 'the slow create is held to the cap when it confirms')
  t.same(deleted, ['e-1'], 'and its endpoint is deleted: the caller never gets its token')
  t.notOk(await caps.holds(owner.tags, 'e-1'))
  t.ok(await caps.holds(owner.tags, 'e-2'))
  t.ok(log.lines.some((l) => l.level === 'warn' && l.obj?.endpointId === 'e-1' && l.msg.includes('outlived its reservation')))

  // Round 2: room again (e-2 deleted through the service): the slow create is counted.
  await caps.release(owner.tags, 'e-2')
  gate = deferred()
  slowNext = true
  const slowWithRoom = service.create(owner)
  clock.advance(15_000)
  gate.resolve()
  t.equal((await slowWithRoom).endpointId, 'e-3', 'a lapsed reservation below the cap is counted')
  t.ok(await caps.holds(owner.tags, 'e-3'))
  t.equal((await appError(service.create(owner))).code, 'ENDPOINT_LIMIT', 'and holds the slot')

  // Round 3: the delete of the endpoint over the cap fails: still 409, and the sweep's job.
  await caps.release(owner.tags, 'e-3')
  gate = deferred()
  slowNext = true
  failDelete = true
  const slowFailing = service.create(owner)
  clock.advance(15_000)
  t.equal((await service.create(owner)).endpointId, 'e-5')
  gate.resolve()
  t.equal((await appError(slowFailing)).code, 'ENDPOINT_LIMIT')
  t.ok(log.lines.some((l) => l.level === 'warn' && l.obj?.endpointId === 'e-4' && l.msg.includes('the sweep deletes it')))
})

t.test('a lost answer found in the list after the reservation lapsed and the cap filled: not counted, not deleted', async (t) => {
  const made: BrtcEndpoint[] = []
  const deleted: string[] = []
  const gate = deferred()
  let n = 0
  const { service, clock, caps, log } = setup({
    async create ({ tag }) {
      const endpoint = { endpointId: `e-${++n}`, status: 'DISCONNECTED', expiresAtMs: clock.wall() + HOUR, tag }
      made.push(endpoint)
      if (n === 1) {
        await gate.promise
        throw new BrtcApiError('create', 'timeout', 'no complete response')
      }
      return { ...endpoint, token: new Secret(TOKEN) }
    },
    async listPage () { return { endpoints: made, nextCursor: undefined } },
    async delete (id) { deleted.push(id); return 'deleted' }
  }, 1)
  const owner = await service.owner(callerOf('api_key', 'web'))
  const lost = service.create(owner)
  clock.advance(15_000)
  t.equal((await service.create(owner)).endpointId, 'e-2')
  gate.resolve()
  t.equal((await appError(lost)).statusCode, 503, 'the lost answer is still a 503')
  t.same(deleted, [], 'a listed endpoint may be another replica\'s create of the caller: never deleted')
  t.ok(await caps.holds(owner.tags, 'e-2'))
  t.notOk(await caps.holds(owner.tags, 'e-1'), 'not counted: the cap filled meanwhile')
  t.ok(log.lines.some((l) => l.level === 'warn' && l.obj?.endpointId === 'e-1' && l.msg.includes('it is not counted')))
  t.same((await service.list(owner)).map((e) => e.endpointId), ['e-1', 'e-2'], 'the caller sees it, and can delete it')
})

t.test('provider failures become the service\'s errors', async (t) => {
  const cases: Array<[unknown, number, string, number | undefined]> = [
    [new BrtcApiError('create', 'throttled', 'HTTP 429', { status: 429, retryAfterMs: 7000 }), 503, 'UPSTREAM_UNAVAILABLE', 7],
    [new BrtcApiError('create', 'throttled', 'HTTP 429', { status: 429, retryAfterMs: 3_600_000 }), 503, 'UPSTREAM_UNAVAILABLE', 60],
    [new BrtcApiError('create', 'credentials_rejected', 'HTTP 401', { status: 401 }), 502, 'UPSTREAM_CREDENTIALS_REJECTED', undefined],
    [new BrtcApiError('create', 'credentials_rejected', 'HTTP 403', { status: 403 }), 502, 'UPSTREAM_CREDENTIALS_REJECTED', undefined],
    [new BrtcApiError('create', 'server_error', 'HTTP 500', { status: 500 }), 503, 'UPSTREAM_UNAVAILABLE', 1],
    [new BrtcApiError('create', 'timeout', 'no complete response'), 503, 'UPSTREAM_UNAVAILABLE', 1],
    [new BrtcApiError('create', 'network', 'request failed'), 503, 'UPSTREAM_UNAVAILABLE', 1],
    [new BrtcApiError('create', 'client_error', 'HTTP 400', { status: 400 }), 503, 'UPSTREAM_UNAVAILABLE', 1],
    [upstreamUnavailable('bandwidth', 'throttled', 9000), 503, 'UPSTREAM_UNAVAILABLE', 9]
  ]
  for (const [err, status, code, retryAfter] of cases) {
    const { service } = setup({ async create () { throw err } })
    const failure = await appError(service.create(await service.owner(callerOf('api_key', 'web'))))
    t.equal(failure.statusCode, status, `${String((err as Error).message)} → ${status}`)
    t.equal(failure.code, code)
    t.equal(failure.retryAfterSeconds, retryAfter)
  }
  const { service } = setup({ async create () { throw new TypeError('a bug') } })
  await t.rejects(service.create(await service.owner(callerOf('api_key', 'web'))), TypeError, 'anything else passes through (a 500)')
})

t.test('401/403: one error line saying the credentials lack the BRTC role, again only after a success', async (t) => {
  let refuse = true
  const { service, log, clock } = setup({
    async create () { throw new BrtcApiError('create', 'credentials_rejected', 'HTTP 403', { status: 403 }) },
    async listPage () {
      if (refuse) throw new BrtcApiError('list', 'credentials_rejected', 'HTTP 401', { status: 401 })
      return { endpoints: [{ endpointId: 'e-1', status: 'X', expiresAtMs: clock.wall() + HOUR, tag: 'wts1.nobody' }], nextCursor: undefined }
    }
  })
  const owner = await service.owner(callerOf('api_key', 'web'))
  await appError(service.create(owner))
  await appError(service.list(owner))
  const errors = (): number => log.lines.filter((l) => l.level === 'error').length
  t.equal(errors(), 1)
  t.match(log.lines.find((l) => l.level === 'error'), { obj: { operation: 'create', status: 403 }, msg: /lack the BRTC role/ })
  refuse = false
  t.same(await service.list(owner), [])
  await appError(service.create(owner))
  t.equal(errors(), 2, 'logged again after the provider accepted them in between')
})

t.test('an outage (timeouts, 5xx, 429): one warn line when it starts, one info line when the provider answers again', async (t) => {
  let failure: BrtcApiError | undefined = new BrtcApiError('list', 'timeout', 'no complete response')
  const { service, log } = setup({
    async listPage () {
      if (failure !== undefined) throw failure
      return { endpoints: [], nextCursor: undefined }
    }
  })
  const owner = await service.owner(callerOf('api_key', 'web'))
  const outageLines = (): string[] => log.lines.filter((l) => l.level === 'warn' || l.level === 'info').map((l) => `${l.level}: ${l.msg}`)
  for (let i = 0; i < 3; i++) await appError(service.list(owner))
  failure = new BrtcApiError('list', 'server_error', 'HTTP 500', { status: 500 })
  await appError(service.list(owner))
  t.same(outageLines(), ['warn: brtc: the Endpoints API is not answering; endpoint requests get 503 until it does'], 'one line for four failures')
  t.match(log.lines[0]?.obj, { operation: 'list', errorClass: 'timeout' })
  failure = undefined
  await service.list(owner)
  await service.list(owner)
  t.equal(outageLines().at(-1), 'info: brtc: the Endpoints API answers again')
  t.equal(outageLines().length, 2, 'said once')
  failure = new BrtcApiError('list', 'throttled', 'HTTP 429', { status: 429, retryAfterMs: 2000 })
  await appError(service.list(owner))
  t.equal(outageLines().length, 3, 'a new outage is logged again')
  t.match(log.lines.at(-1)?.obj, { errorClass: 'throttled', status: 429 })
})

t.test('an endpoint that is born expired is refused (503) and its slot given back', async (t) => {
  const { service, clock, log } = setup({
    async create ({ tag }) { return { endpointId: 'e-dead', status: 'DISCONNECTED', expiresAtMs: clock.wall() + 999, tag, token: new Secret(TOKEN) } }
  }, 1)
  const owner = await service.owner(callerOf('api_key', 'web'))
  const failure = await appError(service.create(owner))
  t.equal(failure.statusCode, 503)
  t.equal(failure.errorClass, 'bad_response')
  t.match(log.lines.find((l) => l.level === 'warn'), { obj: { endpointId: 'e-dead' } })
  t.equal((await appError(service.create(owner))).statusCode, 503, 'not a 409: the slot was given back')
})

t.test('list: the owner\'s live endpoints over every page, under any of its keys', async (t) => {
  let secret = new Secret('first')
  const clock = new FakeClock()
  const keys = new OwnerKeys({ secret: () => secret, accountId: '9900000' })
  const old: Owner = await keys.owner('api_key:web')
  secret = new Secret('second')
  const owner = await keys.owner('api_key:web')
  const stranger = await keys.owner('api_key:mobile')
  const now = clock.wall()
  const pages: EndpointPage[] = [
    { endpoints: [{ endpointId: 'e-old-key', status: 'CONNECTED', expiresAtMs: now + HOUR, tag: old.tag }, { endpointId: 'e-untagged', status: 'X', expiresAtMs: now + HOUR, tag: undefined }], nextCursor: 'c1' },
    { endpoints: [{ endpointId: 'e-expired', status: 'X', expiresAtMs: now, tag: owner.tag }, { endpointId: 'e-theirs', status: 'X', expiresAtMs: now + HOUR, tag: stranger.tag }], nextCursor: 'c2' },
    { endpoints: [{ endpointId: 'e-new-key', status: 'DISCONNECTED', expiresAtMs: now + 2 * HOUR, tag: owner.tag }], nextCursor: undefined }
  ]
  const cursors: Array<string | undefined> = []
  const service = new EndpointService({
    api: {
      async listPage (cursor) { cursors.push(cursor); return pages[cursor === undefined ? 0 : Number(cursor.slice(1))] as EndpointPage },
      create: async () => { throw new Error('x') },
      get: async () => undefined,
      delete: async () => 'gone'
    },
    caps: new MemoryCapStore({ clock, reservationMs: 1000 }),
    keys,
    clock,
    maxPerCaller: 5
  })
  t.same(await service.list(owner), [
    { endpointId: 'e-old-key', expiresAt: new Date(now + HOUR).toISOString(), status: 'CONNECTED' },
    { endpointId: 'e-new-key', expiresAt: new Date(now + 2 * HOUR).toISOString(), status: 'DISCONNECTED' }
  ])
  t.same(cursors, [undefined, 'c1', 'c2'])
  t.same((await service.list(stranger)).map((e) => e.endpointId), ['e-theirs'])
})

t.test('list stops at MAX_LIST_PAGES or a repeated cursor, and says so', async (t) => {
  let pages = 0
  const { service, log } = setup({ async listPage () { pages++; return { endpoints: [], nextCursor: `c${pages}` } } })
  t.same(await service.list(await service.owner(callerOf('api_key', 'web'))), [])
  t.equal(pages, MAX_LIST_PAGES)
  t.ok(log.lines.some((l) => l.level === 'warn' && /too long or does not end/.test(l.msg) && l.obj?.pages === MAX_LIST_PAGES))

  const cursors: Array<string | undefined> = []
  const looping = setup({ async listPage (after) { cursors.push(after); return { endpoints: [], nextCursor: after === undefined ? 'a' : 'b' } } })
  t.same(await looping.service.list(await looping.service.owner(callerOf('api_key', 'web'))), [])
  t.same(cursors, [undefined, 'a', 'b'], 'a cursor the provider hands out twice ends the listing')
  t.ok(looping.log.lines.some((l) => l.level === 'warn' && l.obj?.pages === 3))
})

t.test('remove: one\'s own (deleted, or gone meanwhile), someone else\'s or an unknown one (the same 404)', async (t) => {
  const store: Record<string, BrtcEndpoint> = {}
  const deletes: string[] = []
  let deleteAnswer: 'deleted' | 'gone' = 'deleted'
  let n = 0
  const { service, clock, caps } = setup({
    async create ({ tag }) {
      const id = `e-${++n}`
      store[id] = { endpointId: id, status: 'DISCONNECTED', expiresAtMs: clock.wall() + HOUR, tag }
      return { ...store[id]!, token: new Secret(TOKEN) }
    },
    async get (id) { return store[id] },
    async delete (id) { deletes.push(id); const had = store[id] !== undefined; delete store[id]; return had ? deleteAnswer : 'gone' }
  }, 5)
  const web = await service.owner(callerOf('api_key', 'web'))
  const mobile = await service.owner(callerOf('api_key', 'mobile'))
  const mine = await service.create(web)
  const theirs = await service.create(mobile)

  const notFound = await appError(service.remove(web, theirs.endpointId))
  const unknown = await appError(service.remove(web, 'e-404'))
  t.same([notFound.statusCode, notFound.code, notFound.message], [unknown.statusCode, unknown.code, unknown.message], 'indistinguishable')
  t.equal(notFound.statusCode, 404)
  t.same(deletes, [], 'nothing deleted for a non-owner')

  t.equal(await service.remove(web, mine.endpointId), 'deleted')
  t.notOk(await caps.holds(web.tags, mine.endpointId), 'its slot is freed')
  t.equal((await appError(service.remove(web, mine.endpointId))).statusCode, 404, 'once deleted through the service, it is unknown')

  // Deleted behind the service's back (another tab's keepalive delete raced this one, the provider's own cleanup).
  const second = await service.create(web)
  delete store[second.endpointId]
  t.equal(await service.remove(web, second.endpointId), 'gone', 'the owner\'s, already gone: 204')
  t.notOk(await caps.holds(web.tags, second.endpointId))
  t.equal((await appError(service.remove(mobile, second.endpointId))).statusCode, 404, 'never for someone else')

  const third = await service.create(web)
  deleteAnswer = 'gone'
  t.equal(await service.remove(web, third.endpointId), 'gone', 'gone between the get and the delete')
})
