// The emulator wiring of the service (emulator/service-env.ts): without the `brtc` option, the
// two token upstreams only (what the bench uses); with it, also BRTC_API_URL and BRTC_ACCOUNT_ID,
// with which the configuration turns the per-user endpoint tokens on against the emulator; with
// `upstreams`, only the upstreams named.
import t from 'tap'
import { emulatorUpstreamEnv } from '../../emulator/service-env.js'
import { loadConfig } from '../../src/config/load-config.js'
import { startBrtcEmulator } from '../helpers/brtc-rig.js'

const CREDENTIALS = {
  bandwidth: { clientId: 'bw-id', clientSecret: 'bw-secret' },
  global: { clientId: 'gl-id', clientSecret: 'gl-secret' }
}

t.test('without the option: the two upstreams only, and no endpoint tokens', async (t) => {
  const emulator = await startBrtcEmulator(t)
  const env = emulatorUpstreamEnv(emulator, CREDENTIALS)
  t.same(Object.keys(env).sort(), [
    'BANDWIDTH_CLIENT_ID', 'BANDWIDTH_CLIENT_SECRET', 'BANDWIDTH_TOKEN_URL', 'DEFAULT_UPSTREAM',
    'GLOBAL_WEBRTC_CLIENT_ID', 'GLOBAL_WEBRTC_CLIENT_SECRET', 'GLOBAL_WEBRTC_TOKEN_URL'
  ])
  t.same(emulatorUpstreamEnv(emulator, CREDENTIALS, { brtc: false }), env)
  t.equal(loadConfig({ ...env, API_KEYS: `a:${'k'.repeat(32)}` }).brtc, undefined)
})

t.test('brtc: true uses the emulator\'s API and default account; an account id may be given', async (t) => {
  const emulator = await startBrtcEmulator(t)
  const env = emulatorUpstreamEnv(emulator, CREDENTIALS, { brtc: true })
  t.equal(env.BRTC_API_URL, emulator.brtcApiUrl)
  t.equal(env.BRTC_ACCOUNT_ID, '9900000')
  t.equal(env.BANDWIDTH_TOKEN_URL, emulator.tokenUrl('bandwidth'))
  const brtc = loadConfig({ ...env, API_KEYS: `a:${'k'.repeat(32)}` }).brtc
  t.equal(brtc?.apiUrl.href, emulator.brtcApiUrl)
  t.equal(emulatorUpstreamEnv(emulator, CREDENTIALS, { brtc: { accountId: '12345' } }).BRTC_ACCOUNT_ID, '12345')
})

t.test('upstreams: only those named, with no DEFAULT_UPSTREAM when there is one', async (t) => {
  const emulator = await startBrtcEmulator(t)
  const global = emulatorUpstreamEnv(emulator, CREDENTIALS, { upstreams: ['global'] })
  t.same(Object.keys(global).sort(), ['GLOBAL_WEBRTC_CLIENT_ID', 'GLOBAL_WEBRTC_CLIENT_SECRET', 'GLOBAL_WEBRTC_TOKEN_URL'])
  t.same(loadConfig({ ...global, API_KEYS: `a:${'k'.repeat(32)}` }).upstreams.map((u) => u.id), ['global'])
  const bandwidth = emulatorUpstreamEnv(emulator, CREDENTIALS, { upstreams: ['bandwidth'] })
  t.same(Object.keys(bandwidth).sort(), ['BANDWIDTH_CLIENT_ID', 'BANDWIDTH_CLIENT_SECRET', 'BANDWIDTH_TOKEN_URL'])
})
