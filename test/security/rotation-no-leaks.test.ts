// A rotation at LOG_LEVEL=trace leaks nothing: old and new client secrets, old and new API keys,
// the contents of a refused file, and every token issued before and after, are absent from every
// log line, reply, /readyz and /metrics, in every encoding (test/helpers/leak-scan.ts).
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { basicCredentials } from '../helpers/emulator.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { findLeaks } from '../helpers/leak-scan.js'

const OLD_SECRET = 'bw-secret-OLD-leakcanary-01'
const NEW_SECRET = 'bw-secret-NEW-leakcanary-02'
const OLD_KEY = 'old-key-leakcanary-0123456789abcdef0'
const NEW_KEY = 'new-key-leakcanary-0123456789abcdef0'
const BAD_CONTENT = 'refused:leakcanary-too-short'

t.test('old and new secrets, keys and tokens never appear anywhere', async (t) => {
  const dir = t.testdir({ secret: OLD_SECRET, keys: `web:${OLD_KEY}\n` })
  const clock = new FakeClock()
  const provider = fakeProvider()
  const { app, logs } = await build(t, {
    env: { LOG_LEVEL: 'trace', BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: join(dir, 'secret'), API_KEYS: '', API_KEYS_FILE: join(dir, 'keys') },
    provider,
    tokens: { clock },
    reload: { clock, settleMs: 10 }
  })
  const exposed: string[] = []
  const call = async (url: string, key?: string): Promise<void> => {
    const res = await app.inject({ url, headers: key === undefined ? {} : { 'x-api-key': key } })
    exposed.push(JSON.stringify(res.headers))
    if (res.statusCode !== 200 || !url.startsWith('/token/')) exposed.push(res.body)
  }
  const reload = async (): Promise<void> => {
    const result = app.reloadConfig()
    await clock.advanceAsync(10)
    await result
  }
  await call('/token/webrtc?upstream=bandwidth', OLD_KEY)
  writeFileSync(join(dir, 'keys'), BAD_CONTENT)
  await reload()
  await call('/readyz')
  writeFileSync(join(dir, 'secret'), NEW_SECRET)
  writeFileSync(join(dir, 'keys'), `web:${NEW_KEY}\n`)
  await reload()
  await clock.advanceAsync(2_880_000)
  await call('/token/webrtc?upstream=bandwidth', NEW_KEY)
  await call('/token/webrtc?upstream=bandwidth', OLD_KEY)
  await call('/readyz')
  await call('/metrics')
  t.ok(provider.issued.length >= 3, 'tokens were issued before and after the rotation')
  t.ok(logs.some((l) => l.includes('configuration reloaded')) && logs.some((l) => l.includes('refused')), 'both a reload and a refusal were logged')
  t.same(findLeaks([...logs, ...exposed], [
    OLD_SECRET, NEW_SECRET, OLD_KEY, NEW_KEY, BAD_CONTENT, 'leakcanary-too-short', basicCredentials('bw-client', OLD_SECRET), basicCredentials('bw-client', NEW_SECRET), ...provider.issued
  ]), [])
})
