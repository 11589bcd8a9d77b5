// Rotation through the running app: a changed API_KEYS_FILE applies to new requests (removed key
// 401, added key 200); an invalid file changes nothing, logs one error naming the variable, and
// /readyz reports it stale while staying 200; config_reloads_total counts both outcomes. A rotated
// client secret, over real HTTP to the emulator: the held token keeps being served, the next
// provider request uses the new secret, and when the provider refuses the old one after the file
// changed, the service re-reads it and retries at once instead of waiting out the back-off.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { findLeaks } from '../helpers/leak-scan.js'
import { rig } from '../helpers/wire.js'
import { parsedLogs, sample } from '../helpers/output.js'

const KEY_1 = 'first-key-0123456789abcdef0123456789ab'
const KEY_2 = 'second-key-0123456789abcdef0123456789a'

t.test('API keys revoked and added through API_KEYS_FILE, without a restart', async (t) => {
  const dir = t.testdir({ keys: `ops:${KEY_1}\n` })
  const clock = new FakeClock()
  const { app, logs } = await build(t, { env: { API_KEYS: '', API_KEYS_FILE: join(dir, 'keys'), LOG_LEVEL: 'info' }, reload: { clock, settleMs: 50 } })
  const status = async (key: string): Promise<number> => (await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': key } })).statusCode
  t.equal(await status(KEY_1), 200)
  t.equal(await status(KEY_2), 401)

  writeFileSync(join(dir, 'keys'), `ops-next:${KEY_2}\n`)
  const reload = app.reloadConfig()
  await clock.advanceAsync(50)
  t.same(await reload, { outcome: 'reloaded', changed: ['API_KEYS'] })
  t.equal(await status(KEY_1), 401, 'the removed key is refused')
  t.equal(await status(KEY_2), 200, 'the added key is accepted')

  const ready = (await app.inject({ url: '/readyz' })).json()
  t.same(ready.config, { state: 'current' })
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.equal(sample(metrics, 'config_reloads_total{outcome="success"}'), 1)
  t.equal(sample(metrics, 'config_reloads_total{outcome="failure"}'), 0)
  const line = parsedLogs<{ msg: string, variables?: string[] }>(logs).find((l) => l.msg === 'configuration reloaded')
  t.same(line?.variables, ['API_KEYS_FILE'])
  t.same(findLeaks(logs, [KEY_1, KEY_2]), [])
})

t.test('a part of the service that fails to apply a reload does not keep the others on the old values', async (t) => {
  const dir = t.testdir({ keys: `ops:${KEY_1}\n` })
  const clock = new FakeClock()
  const { app, logs } = await build(t, { env: { API_KEYS: '', API_KEYS_FILE: join(dir, 'keys'), LOG_LEVEL: 'info' }, reload: { clock, settleMs: 50 } })
  // Runs before every plugin's own listener, the auth plugin's among them.
  app.configUpdates.prependListener('updated', () => { throw new TypeError(`boom ${KEY_2}`) })
  writeFileSync(join(dir, 'keys'), `ops-next:${KEY_2}\n`)
  const reload = app.reloadConfig()
  await clock.advanceAsync(50)
  t.same(await reload, { outcome: 'reloaded', changed: ['API_KEYS'] })
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': KEY_1 } })).statusCode, 401, 'the removed key is refused')
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': KEY_2 } })).statusCode, 200, 'the added key is accepted')
  const errors = parsedLogs<{ level: number, variables?: string[], errorClass?: string }>(logs).filter((l) => l.level === 50)
  t.same(errors.map(({ variables, errorClass }) => ({ variables, errorClass })), [{ variables: ['API_KEYS_FILE'], errorClass: 'TypeError' }])
  t.same(findLeaks(logs, [KEY_1, KEY_2]), [], 'the error is logged by its class, never its message')
})

t.test('an invalid API_KEYS_FILE: nothing changes, one error line, /readyz 200 and stale, counted', async (t) => {
  const dir = t.testdir({ keys: `ops:${KEY_1}\n` })
  const clock = new FakeClock()
  const { app, logs } = await build(t, { env: { API_KEYS: '', API_KEYS_FILE: join(dir, 'keys'), LOG_LEVEL: 'info' }, reload: { clock, settleMs: 50 } })
  writeFileSync(join(dir, 'keys'), `ops:${KEY_1}\nnew:tooshort-secret\n`)
  for (let i = 0; i < 3; i++) {
    const reload = app.reloadConfig()
    await clock.advanceAsync(50)
    t.equal((await reload).outcome, 'rejected')
  }
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': KEY_1 } })).statusCode, 200, 'the previous keys stay in force')
  const ready = await app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json().config, { state: 'stale', variables: ['API_KEYS_FILE'] })
  const errors = parsedLogs<{ level: number, msg: string, variables?: string[] }>(logs).filter((l) => l.level === 50)
  t.equal(errors.length, 1, 'one error line, however often the bad file is seen')
  t.same(errors[0]?.variables, ['API_KEYS_FILE'])
  t.same(findLeaks(logs, [KEY_1, 'tooshort-secret']), [], 'names the variable, never a value')
  t.equal(sample((await app.inject({ url: '/metrics' })).body, 'config_reloads_total{outcome="failure"}'), 1)

  writeFileSync(join(dir, 'keys'), `ops:${KEY_1}\n`)
  const reload = app.reloadConfig()
  await clock.advanceAsync(50)
  await reload
  t.same((await app.inject({ url: '/readyz' })).json().config, { state: 'current' }, 'current again once the file is valid')
})

t.test('a rotated client secret: the held token is still served, the next request uses the new one', async (t) => {
  const dir = t.testdir({ secret: 'bw-secret-OLD-0123456789' })
  const r = await rig(t, {
    env: { BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, 'secret') },
    beforeReady: (emulator) => { emulator.setCredentials('bandwidth', 'bw-client', 'bw-secret-OLD-0123456789') }
  })
  const ask = async (): Promise<number> => (await r.app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: { 'x-api-key': 'test-key-0123456789abcdef0123456789abcdef' } })).statusCode
  t.equal(await ask(), 200)
  const before = r.emulator.requests('bandwidth')

  // Bandwidth's rotation: a second secret, then the file, then the old secret revoked.
  r.emulator.setSecondarySecret('bandwidth', 'bw-secret-NEW-0123456789')
  writeFileSync(join(dir, 'secret'), 'bw-secret-NEW-0123456789')
  const reload = r.app.reloadConfig()
  await r.wire.advance(200) // the reload's settle wait, on the fake clock
  t.equal((await reload).outcome, 'reloaded')
  r.emulator.setCredentials('bandwidth', 'bw-client', 'bw-secret-NEW-0123456789')
  r.emulator.setSecondarySecret('bandwidth', null)
  t.equal(await ask(), 200, 'the token held is still served')
  t.equal(r.emulator.requests('bandwidth'), before, 'no provider request for it')

  await r.wire.advance(2_880_000) // the refresh at 80 % of 3600 s
  t.equal(r.emulator.requests('bandwidth'), before + 1, 'one refresh')
  t.equal(r.emulator.requestLog().at(-1)?.outcome, 200, 'made with the new secret')
  t.equal(await ask(), 200)
})

t.test('invalid_client after the secret file changed: re-read and retried at once', async (t) => {
  const dir = t.testdir({ secret: 'bw-secret-OLD-0123456789' })
  const r = await rig(t, {
    env: { BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, 'secret'), SECRET_FILES_POLL_SECONDS: '3600' },
    beforeReady: (emulator) => { emulator.setCredentials('bandwidth', 'bw-client', 'bw-secret-OLD-0123456789') }
  })
  const before = r.emulator.requests('bandwidth')
  // The provider has moved on, and so has the file; the service has not looked yet.
  r.emulator.setCredentials('bandwidth', 'bw-client', 'bw-secret-NEW-0123456789')
  writeFileSync(join(dir, 'secret'), 'bw-secret-NEW-0123456789')
  await r.wire.advance(2_880_000 + 1000) // the refresh, and the reload's settle wait after the 401
  const outcomes = r.emulator.requestLog().filter((e) => e.tenant === 'bandwidth').slice(before).map((e) => e.outcome)
  t.same(outcomes, [401, 200], 'refused with the old secret, then at once accepted with the new one')
  t.equal(r.app.tokens.get('bandwidth')?.state().lastErrorClass, null, 'no credentials back-off is left')
  t.equal(sample((await r.app.inject({ url: '/metrics' })).body, 'config_reloads_total{outcome="success"}'), 1)
})

t.test('a wrong secret fixed by its file: callers get tokens again at the reload, not after the 60 s back-off', async (t) => {
  const dir = t.testdir({ secret: 'bw-secret-WRONG-0123456789' })
  const r = await rig(t, {
    env: { BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, 'secret'), SECRET_FILES_POLL_SECONDS: '1' },
    beforeReady: (emulator) => { emulator.setCredentials('bandwidth', 'bw-client', 'bw-secret-RIGHT-0123456789') }
  })
  const ask = async (): Promise<number> => (await r.app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: { 'x-api-key': 'test-key-0123456789abcdef0123456789abcdef' } })).statusCode
  t.equal(await ask(), 502, 'the provider refuses the secret')
  writeFileSync(join(dir, 'secret'), 'bw-secret-RIGHT-0123456789')
  await r.wire.advance(1000 + 200) // the next poll and its settle wait
  t.equal(await ask(), 200, 'well inside the 60 s credentials back-off')
})

t.test('a rotation done as the runbook says, under continuous requests: no caller sees a non-200', async (t) => {
  const dir = t.testdir({ secret: 'bw-secret-OLD-0123456789', keys: `web:${KEY_1}\n` })
  const r = await rig(t, {
    env: { BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, 'secret'), API_KEYS: '', API_KEYS_FILE: join(dir, 'keys') },
    beforeReady: (emulator) => { emulator.setCredentials('bandwidth', 'bw-client', 'bw-secret-OLD-0123456789') }
  })
  const statuses: number[] = []
  let key = KEY_1
  /** A burst of callers on both upstreams, as traffic keeps flowing during each step. */
  const traffic = async (): Promise<void> => {
    const replies = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await r.app.inject({ url: `/token/webrtc?upstream=${i % 2 === 0 ? 'bandwidth' : 'global'}`, headers: { 'x-api-key': key } })))
    statuses.push(...replies.map((res) => res.statusCode))
  }
  const reload = async (): Promise<void> => {
    const result = r.app.reloadConfig()
    await r.wire.advance(200)
    t.equal((await result).outcome, 'reloaded')
  }
  await traffic()
  // 1. The provider accepts a second secret for the client id.
  r.emulator.setSecondarySecret('bandwidth', 'bw-secret-NEW-0123456789')
  await traffic()
  // 2. The secret file gets the new secret; a new API key is added beside the old one.
  writeFileSync(join(dir, 'secret'), 'bw-secret-NEW-0123456789')
  writeFileSync(join(dir, 'keys'), `web:${KEY_1}\nweb-next:${KEY_2}\n`)
  await Promise.all([traffic(), reload()])
  // 3. Callers move to the new key; the next refresh uses the new secret.
  key = KEY_2
  await traffic()
  await r.wire.advance(2_880_000)
  await traffic()
  // 4. The old secret is revoked at the provider, the old key removed from the file.
  r.emulator.setCredentials('bandwidth', 'bw-client', 'bw-secret-NEW-0123456789')
  r.emulator.setSecondarySecret('bandwidth', null)
  writeFileSync(join(dir, 'keys'), `web-next:${KEY_2}\n`)
  await Promise.all([traffic(), reload()])
  await r.wire.advance(2_880_000)
  await traffic()
  t.equal(statuses.length, 140)
  t.same([...new Set(statuses)], [200], 'every caller got a 200 throughout')
  const bandwidth = r.emulator.requestLog().filter((e) => e.tenant === 'bandwidth').map((e) => e.outcome)
  t.same([...new Set(bandwidth)], [200], 'the provider never refused the service')
  t.ok(bandwidth.length >= 3, `the bandwidth token was refreshed twice (${bandwidth.length} requests)`)
  t.equal((await r.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': KEY_1 } })).statusCode, 401, 'the removed key is refused at the end')
})
