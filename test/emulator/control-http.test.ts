// The dev-only `/__emulator/*` routes: the same control as the programmatic API, over HTTP, for
// out-of-process users (bench, soak, browser tests, compose dev). Bad input must be refused with
// a reason and leave the emulator as it was.
import t from 'tap'
import { basic, CREDS, postControl, requestToken, startEmulator } from '../helpers/emulator.js'

t.test('fault over HTTP: set, seen in stats, cleared', async (t) => {
  const emu = await startEmulator(t)
  let res = await postControl(emu, 'fault', { tenant: 'global', fault: { kind: 'status', status: 503, retryAfter: '3' } })
  t.equal(res.status, 200)
  t.same(await res.json(), { ok: true })
  const failed = await requestToken(emu, 'global')
  t.equal(failed.status, 503)
  t.equal(failed.headers.get('retry-after'), '3')
  res = await fetch(`${emu.url}/__emulator/stats`)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.same(await res.json(), {
    requests: { bandwidth: 0, global: 1 },
    issued: { bandwidth: 0, global: 0 },
    faults: { bandwidth: null, global: { kind: 'status', status: 503, retryAfter: '3' } },
    expiresIn: { bandwidth: 3600, global: 600 },
    brtc: { requests: 0, operations: { create: 0, list: 0, get: 0, delete: 0 }, created: 0, endpoints: 0, fault: null, endpointLifetime: 86400 }
  })
  t.equal((await postControl(emu, 'fault', { tenant: 'global', fault: null })).status, 200)
  t.equal((await requestToken(emu, 'global')).status, 200)
  t.equal(emu.requests('global'), 2, 'control requests are not counted')
})

t.test('expires-in and reset over HTTP', async (t) => {
  const emu = await startEmulator(t)
  t.equal((await postControl(emu, 'expires-in', { tenant: 'bandwidth', seconds: 12 })).status, 200)
  const { access_token: token } = await (await requestToken(emu, 'bandwidth')).json() as { access_token: string }
  t.equal(emu.issuedTokens()[0]?.expiresIn, 12)
  const stats = await (await fetch(`${emu.url}/__emulator/stats`)).text()
  t.match(stats, /"bandwidth":12/)
  t.notMatch(stats, token, 'stats never carry tokens')
  t.notMatch(stats, 'bw-secret', 'nor credentials')
  t.equal((await postControl(emu, 'reset')).status, 200, 'reset takes no body')
  t.same(emu.stats().requests, { bandwidth: 0, global: 0 })
  t.equal(emu.stats().expiresIn.bandwidth, 3600)
  t.equal((await postControl(emu, 'reset', {})).status, 200, 'or an empty object')
})

t.test('credentials over HTTP: the provider\'s two-secret rotation, step by step', async (t) => {
  const emu = await startEmulator(t)
  const id = CREDS.bandwidth.clientId
  const old = CREDS.bandwidth.clientSecret
  const fresh = 'rotated-bandwidth-secret-0123456789'
  const token = async (secret: string): Promise<number> => (await requestToken(emu, 'bandwidth', { authorization: basic(id, secret) })).status
  t.equal(await token(fresh), 401, 'before: only the current secret')
  const added = await postControl(emu, 'credentials', { tenant: 'bandwidth', secondarySecret: fresh })
  t.equal(added.status, 200)
  t.notMatch(await added.text(), fresh, 'never echoed')
  t.equal(await token(old), 200, 'both secrets while the service switches')
  t.equal(await token(fresh), 200)
  t.equal((await postControl(emu, 'credentials', { tenant: 'bandwidth', clientSecret: fresh, secondarySecret: null })).status, 200)
  t.equal(await token(fresh), 200, 'the new secret, its client id kept')
  t.equal(await token(old), 401, 'the old secret deleted')
  t.notMatch(JSON.stringify(emu.stats()), fresh, 'not in stats')
  t.equal(await (await requestToken(emu, 'global')).status, 200, 'the other tenant untouched')
})

t.test('bad control requests are refused with a reason', async (t) => {
  const emu = await startEmulator(t)
  const cases: Array<[string, unknown, string | undefined, RegExp]> = [
    ['fault', { tenant: 'other', fault: null }, undefined, /tenant/],
    ['fault', { fault: null }, undefined, /tenant/],
    ['fault', { tenant: 'global' }, undefined, /fault is required/],
    ['fault', { tenant: 'global', fault: { kind: 'nope' } }, undefined, /fault.kind/],
    ['fault', { tenant: 'global', fault: { kind: 'status', status: 42 } }, undefined, /fault.status/],
    ['fault', '{"tenant":', undefined, /not JSON/],
    ['fault', '[1]', undefined, /JSON object/],
    ['fault', 'null', undefined, /JSON object/],
    ['fault', 'tenant=global', 'application/x-www-form-urlencoded', /Content-Type/],
    ['expires-in', { tenant: 'global', seconds: '60' }, undefined, /seconds/],
    ['expires-in', { tenant: 'global' }, undefined, /seconds/],
    ['credentials', { tenant: 'global' }, undefined, /clientSecret or secondarySecret is required/],
    ['credentials', { tenant: 'brtc', clientSecret: 'x' }, undefined, /tenant/],
    ['credentials', { tenant: 'global', clientSecret: '' }, undefined, /clientSecret must be a non-empty string/],
    ['credentials', { tenant: 'global', clientSecret: 'valid-new-secret', secondarySecret: 7 }, undefined, /secondarySecret must be/]
  ]
  for (const [route, body, contentType, message] of cases) {
    const res = await postControl(emu, route, body, contentType)
    t.equal(res.status, 400, `${route} ${JSON.stringify(body)}`)
    t.match(await res.json(), { error: 'bad_request', message })
  }
  const untyped = await fetch(`${emu.url}/__emulator/reset`, { method: 'POST', body: new TextEncoder().encode('{}') })
  t.equal(untyped.status, 400, 'a body without Content-Type')
  t.same(emu.stats().faults, { bandwidth: null, global: null })
  t.equal(emu.stats().expiresIn.global, 600)
  t.equal((await requestToken(emu, 'global')).status, 200, 'a refused credentials request changed no secret')
})

t.test('control routing: methods, unknown routes, size limit, switched off', async (t) => {
  const emu = await startEmulator(t)
  let res = await fetch(`${emu.url}/__emulator/stats`, { method: 'POST' })
  t.equal(res.status, 405)
  t.equal(res.headers.get('allow'), 'GET')
  res = await fetch(`${emu.url}/__emulator/fault`)
  t.equal(res.status, 405)
  t.equal(res.headers.get('allow'), 'POST')
  t.equal((await postControl(emu, 'no-such-route', {})).status, 404)
  t.equal((await postControl(emu, 'fault', { tenant: 'global', fault: null, pad: 'x'.repeat(20_000) })).status, 413)

  const off = await startEmulator(t, { controlRoutes: false })
  t.equal((await fetch(`${off.url}/__emulator/stats`)).status, 404)
  t.equal((await postControl(off, 'reset')).status, 404)
})
