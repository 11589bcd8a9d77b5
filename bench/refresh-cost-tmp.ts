// TEMPORARY diagnostic (deleted before hand-off)
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createUpstreamEmulator, TOKEN_PATH } from '../emulator/upstream-emulator.js'
import { startChild } from './child.js'
import { createGate } from './gate.js'
const emulator = createUpstreamEmulator({ tenants: { global: { clientId: 'g', clientSecret: 's' } } })
await emulator.listen()
const gate = await createGate(emulator.url)
gate.delay(1000)
const apiKey = randomBytes(32).toString('base64url')
for (const lifetime of [8, 600, 8, 600]) {
  emulator.setExpiresIn('global', lifetime)
  const svc = await startChild({ file: 'service.ts', start: { type: 'start', countRequests: false, env: { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', GLOBAL_WEBRTC_CLIENT_ID: 'g', GLOBAL_WEBRTC_CLIENT_SECRET: 's', GLOBAL_WEBRTC_TOKEN_URL: gate.url(`/global${TOKEN_PATH}`), GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: '1', TOKEN_REFRESH_AT: '0.5', API_KEYS: `b:${apiKey}`, RATE_LIMIT_MAX: '2000000000' } } })
  await sleep(2000)
  const calls0 = gate.calls.length
  const a = (await svc.stats()).cpuUs
  await sleep(16000)
  const b = (await svc.stats()).cpuUs
  console.log('lifetime', lifetime, 'refreshes', gate.calls.length - calls0, 'CPU ms over 16 s idle', ((b - a) / 1000).toFixed(1))
  await svc.stop()
}
await gate.close(); await emulator.close()
