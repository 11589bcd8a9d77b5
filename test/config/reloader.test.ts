// The `*_FILE` reloader against real files in a temp dir, on a fake clock: an in-place rewrite
// and the Kubernetes Secret volume layout (a `..data` symlink swapped atomically) are both seen;
// a file still being written is not taken; an invalid new file (empty, short key, half an entry,
// unreadable) changes nothing, is reported once, names the variable and never a value, and is
// `stale` until a valid file arrives; polling runs on the clock; plain environment values never change.
import t, { type Test } from 'tap'
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load-config.js'
import { ConfigReloader } from '../../src/config/reloader.js'
import type { Config } from '../../src/config/types.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { KEY_A, KEY_B } from '../helpers/config-env.js'

const SECRET_1 = 'bw-secret-ONE-0123456789'
const SECRET_2 = 'bw-secret-TWO-0123456789'

function setup (t: Test, files: Record<string, string>, extraEnv: Record<string, string> = {}) {
  const dir = t.testdir(files)
  const env: Record<string, string> = { BANDWIDTH_CLIENT_ID: 'bw-id', ...extraEnv }
  for (const name of Object.keys(files)) env[`${name}_FILE`] = join(dir, name)
  const clock = new FakeClock()
  const reloader = new ConfigReloader({ env, initial: loadConfig(env), clock, settleMs: 100 })
  const reloaded: Array<[Config, string[]]> = []
  const rejected: Array<[string[], string[]]> = []
  reloader.on('reloaded', (config, changed) => { reloaded.push([config, changed]) })
  reloader.on('rejected', (problems, variables) => { rejected.push([problems, variables]) })
  t.teardown(() => { reloader.stop() })
  /** check() with the settle wait driven by the fake clock. */
  const check = async () => {
    const result = reloader.check()
    await clock.advanceAsync(100)
    return await result
  }
  return { dir, env, clock, reloader, reloaded, rejected, check }
}

t.test('an in-place rewrite: the new values apply, and only the changed variables are named', async (t) => {
  const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` })
  t.same(await s.check(), { outcome: 'unchanged' })
  writeFileSync(join(s.dir, 'API_KEYS'), `alice:${KEY_A}\nbob:${KEY_B}\n`)
  t.same(await s.check(), { outcome: 'reloaded', changed: ['API_KEYS'] })
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['alice', 'bob'])
  t.equal(s.reloader.config.upstreams[0]?.clientSecret.reveal(), SECRET_1, 'the untouched file keeps its value')
  t.equal(s.reloaded.length, 1)
  t.same(await s.check(), { outcome: 'unchanged' }, 'a reload is announced once')
})

t.test('the Kubernetes Secret volume layout: a ..data symlink swapped atomically', async (t) => {
  const dir = t.testdir({})
  const version = (name: string, secret: string): void => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'BANDWIDTH_CLIENT_SECRET'), secret)
    writeFileSync(join(dir, name, 'API_KEYS'), `alice:${KEY_A}`)
  }
  version('..2026_11_30_v1', SECRET_1)
  symlinkSync('..2026_11_30_v1', join(dir, '..data'))
  for (const key of ['BANDWIDTH_CLIENT_SECRET', 'API_KEYS']) symlinkSync(join('..data', key), join(dir, key))
  const env = { BANDWIDTH_CLIENT_ID: 'bw-id', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, 'BANDWIDTH_CLIENT_SECRET'), API_KEYS_FILE: join(dir, 'API_KEYS') }
  const clock = new FakeClock()
  const reloader = new ConfigReloader({ env, initial: loadConfig(env), clock, settleMs: 100 })
  // How the kubelet updates: write the new version, point a temporary link at it, rename it over ..data.
  version('..2026_11_30_v2', SECRET_2)
  symlinkSync('..2026_11_30_v2', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  rmSync(join(dir, '..2026_11_30_v1'), { recursive: true })
  const result = reloader.check()
  await clock.advanceAsync(100)
  t.same(await result, { outcome: 'reloaded', changed: ['BANDWIDTH_CLIENT_SECRET'] })
  t.equal(reloader.config.upstreams[0]?.clientSecret.reveal(), SECRET_2)
})

t.test('a file still changing between the two reads is not taken; the next check takes it', async (t) => {
  const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` })
  const file = join(s.dir, 'API_KEYS')
  // A writer half-way through: the first read sees a valid prefix, the second the whole file.
  writeFileSync(file, `alice:${KEY_A}\n`)
  const result = s.reloader.check()
  writeFileSync(file, `alice:${KEY_A}\nbob:${KEY_B}\n`)
  await s.clock.advanceAsync(100)
  t.same(await result, { outcome: 'unsettled' })
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['alice'], 'the half-written file was not taken')
  t.equal(s.reloaded.length, 0)
  t.same(await s.check(), { outcome: 'reloaded', changed: ['API_KEYS'] })
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['alice', 'bob'])
})

t.test('an invalid new file changes nothing, is reported once, and is stale until a valid one arrives', async (t) => {
  const cases: Array<[string, string, string | null, RegExp]> = [
    ['empty', 'API_KEYS', '\n', /^API_KEYS_FILE: the file is empty$/],
    ['a short key', 'API_KEYS', 'alice:short-key', /^API_KEYS \(read from API_KEYS_FILE\): entry 1 has a key of fewer than 32 characters$/],
    ['half an entry (a name, no key)', 'API_KEYS', `alice:${KEY_A}\nbob`, /^API_KEYS \(read from API_KEYS_FILE\): entry 2 is not of the form/],
    ['an empty client secret', 'BANDWIDTH_CLIENT_SECRET', ' ', /^BANDWIDTH_CLIENT_SECRET_FILE: the file is empty$/],
    ['a secret with a control character', 'BANDWIDTH_CLIENT_SECRET', 'a\u0001b', /^BANDWIDTH_CLIENT_SECRET \(read from BANDWIDTH_CLIENT_SECRET_FILE\): must be/],
    ['unreadable (a directory now)', 'API_KEYS', null, /^API_KEYS_FILE: cannot read the file \(EISDIR\)$/],
    ['unreadable (gone)', 'BANDWIDTH_CLIENT_SECRET', 'DELETE', /^BANDWIDTH_CLIENT_SECRET_FILE: cannot read the file \(ENOENT\)$/]
  ]
  for (const [name, variable, content, problem] of cases) {
    const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` })
    const file = join(s.dir, variable)
    const before = s.reloader.config
    if (content === null) {
      rmSync(file)
      mkdirSync(file)
    } else if (content === 'DELETE') {
      rmSync(file)
    } else {
      writeFileSync(file, content)
    }
    const result = await s.check()
    t.equal(result.outcome, 'rejected', name)
    t.equal(s.reloader.config, before, `${name}: the previous values stay in force`)
    t.same(s.reloader.stale, [`${variable}_FILE`], `${name}: stale`)
    t.equal(s.rejected.length, 1, `${name}: reported`)
    const [problems] = s.rejected[0] ?? [[]]
    t.ok(problems.some((p) => problem.test(p)), `${name}: ${problems.join(' | ')}`)
    for (const value of [SECRET_1, KEY_A, 'short-key', 'a\u0001b']) t.notOk(problems.join('\n').includes(value), `${name}: no value in the problems`)
    await s.check()
    t.equal(s.rejected.length, 1, `${name}: the same bad file is not reported again`)

    if (content === null) rmSync(file, { recursive: true })
    writeFileSync(file, variable === 'API_KEYS' ? `alice:${KEY_A}` : SECRET_1)
    t.same(await s.check(), { outcome: 'unchanged' }, `${name}: put back`)
    t.same(s.reloader.stale, [], `${name}: current again`)
  }
})

t.test('each file-read variable refuses a bad new value and keeps the old one', async (t) => {
  const files = {
    BANDWIDTH_CLIENT_ID: 'bw-id',
    BANDWIDTH_CLIENT_SECRET: SECRET_1,
    GLOBAL_WEBRTC_CLIENT_ID: 'gl-id',
    GLOBAL_WEBRTC_CLIENT_SECRET: 'gl-secret-0123456789',
    API_KEYS: `alice:${KEY_A}`,
    REDIS_URL: 'redis://:pw@127.0.0.1:6379'
  }
  const bad: Record<keyof typeof files, string> = {
    BANDWIDTH_CLIENT_ID: 'id:with-a-colon',
    BANDWIDTH_CLIENT_SECRET: '',
    GLOBAL_WEBRTC_CLIENT_ID: 'a\u0002b',
    GLOBAL_WEBRTC_CLIENT_SECRET: '\n\n',
    API_KEYS: 'alice',
    REDIS_URL: 'http://not-redis:6379'
  }
  for (const name of Object.keys(files) as Array<keyof typeof files>) {
    const dir = t.testdir(files)
    const env: Record<string, string> = { DEFAULT_UPSTREAM: 'global' }
    for (const key of Object.keys(files)) env[`${key}_FILE`] = join(dir, key)
    const clock = new FakeClock()
    const reloader = new ConfigReloader({ env, initial: loadConfig(env), clock, settleMs: 10 })
    const before = reloader.config
    writeFileSync(join(dir, name), bad[name])
    const result = reloader.check()
    await clock.advanceAsync(10)
    const outcome = await result
    t.equal(outcome.outcome, 'rejected', name)
    t.same(reloader.stale, [`${name}_FILE`], `${name}: stale`)
    t.equal(reloader.config, before, `${name}: the previous values stay in force`)
    if (outcome.outcome === 'rejected') t.ok(outcome.problems.every((p) => p.startsWith(name)), `${name}: named (${outcome.problems.join(' | ')})`)
  }
})

t.test('a bad file does not hold back another credential\'s valid change: a revoked key applies, the bad one stays stale', async (t) => {
  const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A},bob:${KEY_B}` })
  writeFileSync(join(s.dir, 'BANDWIDTH_CLIENT_SECRET'), '')
  writeFileSync(join(s.dir, 'API_KEYS'), `bob:${KEY_B}`)
  const result = await s.check()
  t.match(result, { outcome: 'partial', changed: ['API_KEYS'], variables: ['BANDWIDTH_CLIENT_SECRET_FILE'] })
  if (result.outcome === 'partial') t.ok(result.problems.length > 0 && result.problems.every((p) => p.startsWith('BANDWIDTH_CLIENT_SECRET')), result.problems.join(' | '))
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['bob'], 'alice\'s key is revoked')
  t.equal(s.reloader.config.upstreams[0]?.clientSecret.reveal(), SECRET_1, 'the bandwidth secret in force is unchanged')
  t.same(s.reloader.stale, ['BANDWIDTH_CLIENT_SECRET_FILE'], 'only the refused file is stale')
  t.same(s.reloaded.map(([, changed]) => changed), [['API_KEYS']])
  t.same(s.rejected.map(([, variables]) => variables), [['BANDWIDTH_CLIENT_SECRET_FILE']])

  t.match(await s.check(), { outcome: 'rejected', variables: ['BANDWIDTH_CLIENT_SECRET_FILE'] }, 'the bad file alone is still refused')
  t.equal(s.rejected.length, 1, 'and not reported again')
  writeFileSync(join(s.dir, 'API_KEYS'), `alice:${KEY_A}`)
  t.match(await s.check(), { outcome: 'partial', changed: ['API_KEYS'] }, 'another valid change is taken beside it')
  t.equal(s.rejected.length, 1, 'the same bad file is not reported again beside it')
  t.same(s.reloader.stale, ['BANDWIDTH_CLIENT_SECRET_FILE'])
  writeFileSync(join(s.dir, 'BANDWIDTH_CLIENT_SECRET'), SECRET_2)
  t.same(await s.check(), { outcome: 'reloaded', changed: ['BANDWIDTH_CLIENT_SECRET'] })
  t.same(s.reloader.stale, [])
})

t.test('a client id and its secret change together: half of a valid pair is not taken with the other half refused', async (t) => {
  const dir = t.testdir({ BANDWIDTH_CLIENT_ID: 'bw-id', BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` })
  const env = Object.fromEntries(['BANDWIDTH_CLIENT_ID', 'BANDWIDTH_CLIENT_SECRET', 'API_KEYS'].map((name) => [`${name}_FILE`, join(dir, name)]))
  const clock = new FakeClock()
  const reloader = new ConfigReloader({ env, initial: loadConfig(env), clock, settleMs: 10 })
  writeFileSync(join(dir, 'BANDWIDTH_CLIENT_ID'), 'bw-id-2')
  writeFileSync(join(dir, 'BANDWIDTH_CLIENT_SECRET'), '')
  const result = reloader.check()
  await clock.advanceAsync(10)
  t.match(await result, { outcome: 'rejected', variables: ['BANDWIDTH_CLIENT_ID_FILE', 'BANDWIDTH_CLIENT_SECRET_FILE'] })
  t.equal(reloader.config.upstreams[0]?.clientId, 'bw-id', 'the id in force is unchanged')
})

t.test('the reads the startup config was parsed from are what a change is measured against', async (t) => {
  const dir = t.testdir({ API_KEYS: `alice:${KEY_A}` })
  const env = { BANDWIDTH_CLIENT_ID: 'bw-id', BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS_FILE: join(dir, 'API_KEYS') }
  const initial = loadConfig(env)
  // The file changes between the startup read and the reloader's creation.
  writeFileSync(join(dir, 'API_KEYS'), `bob:${KEY_B}`)
  const clock = new FakeClock()
  const reloader = new ConfigReloader({ env, initial, reads: { API_KEYS: { text: `alice:${KEY_A}` } }, clock, settleMs: 10 })
  const result = reloader.check()
  await clock.advanceAsync(10)
  t.same(await result, { outcome: 'reloaded', changed: ['API_KEYS'] }, 'the change is seen')
  t.same(reloader.config.apiKeys.map((k) => k.name), ['bob'])
})

t.test('polling runs every SECRET_FILES_POLL_SECONDS on the clock, and stops', async (t) => {
  const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` }, { SECRET_FILES_POLL_SECONDS: '5' })
  s.reloader.start(5)
  writeFileSync(join(s.dir, 'API_KEYS'), `bob:${KEY_B}`)
  await s.clock.advanceAsync(4_999)
  t.equal(s.reloaded.length, 0, 'not before the poll')
  await s.clock.advanceAsync(1 + 100)
  t.equal(s.reloaded.length, 1, 'the poll took the new file')
  s.reloader.stop()
  writeFileSync(join(s.dir, 'API_KEYS'), `alice:${KEY_A}`)
  await s.clock.advanceAsync(60_000)
  t.equal(s.reloaded.length, 1, 'no poll after stop()')
  t.equal(s.clock.pendingTimers(), 0)
})

t.test('without *_FILE variables there is nothing to poll; plain values never change', async (t) => {
  const env = { BANDWIDTH_CLIENT_ID: 'bw-id', BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` }
  const clock = new FakeClock()
  const reloader = new ConfigReloader({ env, initial: loadConfig(env), clock })
  reloader.start(1)
  t.equal(clock.pendingTimers(), 0, 'no timer')
  env.API_KEYS = `bob:${KEY_B}`
  t.same(await reloader.check(), { outcome: 'unchanged' }, 'the environment is not read again')
})

t.test('a check asked for while one runs looks again after it; callers asking meanwhile share that look', async (t) => {
  const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` })
  writeFileSync(join(s.dir, 'API_KEYS'), `bob:${KEY_B}`)
  const first = s.reloader.check()
  // A SIGHUP for a change made after the running check's first read: it must not be answered by that check.
  writeFileSync(join(s.dir, 'BANDWIDTH_CLIENT_SECRET'), SECRET_2)
  const later = Promise.all([s.reloader.check(), s.reloader.check()])
  await s.clock.advanceAsync(100)
  t.same(await first, { outcome: 'unsettled' }, 'the running check saw a file change during its wait')
  await s.clock.advanceAsync(100)
  const [a, b] = await later
  t.same(a, { outcome: 'reloaded', changed: ['BANDWIDTH_CLIENT_SECRET', 'API_KEYS'] })
  t.equal(b, a, 'one look for both')
  t.equal(s.reloaded.length, 1)
  t.equal(s.reloader.config.upstreams[0]?.clientSecret.reveal(), SECRET_2)
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['bob'])
})

t.test('a file that changes during the wait for another is not taken without its effect', async (t) => {
  const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}\nops:${KEY_B}` })
  writeFileSync(join(s.dir, 'BANDWIDTH_CLIENT_SECRET'), SECRET_2)
  const result = s.reloader.check()
  await s.clock.advanceAsync(50)
  // The leaked key is revoked while the secret's change settles.
  writeFileSync(join(s.dir, 'API_KEYS'), `alice:${KEY_A}`)
  await s.clock.advanceAsync(50)
  t.same(await result, { outcome: 'unsettled' })
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['alice', 'ops'], 'nothing taken yet')
  t.same(await s.check(), { outcome: 'reloaded', changed: ['BANDWIDTH_CLIENT_SECRET', 'API_KEYS'] }, 'the next check names both, so both are applied')
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['alice'])
  t.same(await s.check(), { outcome: 'unchanged' })
})

t.test('a check that rejects (a listener threw) does not hold back the one asked for after it', async (t) => {
  const s = setup(t, { BANDWIDTH_CLIENT_SECRET: SECRET_1, API_KEYS: `alice:${KEY_A}` })
  let broken = true
  s.reloader.prependListener('reloaded', () => {
    if (!broken) return
    broken = false
    throw new Error('a listener bug')
  })
  writeFileSync(join(s.dir, 'API_KEYS'), `bob:${KEY_B}`)
  const first = s.reloader.check().then(() => 'resolved', (err: Error) => err.message)
  const second = s.reloader.check()
  await s.clock.advanceAsync(100)
  t.equal(await first, 'a listener bug', 'the first check rejected')
  t.same(await second, { outcome: 'unchanged' }, 'the next check ran, and found the change taken')
  t.same(s.reloader.config.apiKeys.map((k) => k.name), ['bob'])
})
