// The service's environment entries that point both of its upstreams at a running provider
// emulator: each upstream's client id, secret and token URL, and the default upstream. Dev only:
// `npm run demo` (scripts/demo.ts) and `npm run bench` (bench/fixtures.ts) both wire the service
// this way, so the wiring is written once.
import type { UpstreamEmulator } from './upstream-emulator.js'
import type { Tenant } from './types.js'

/** The client credentials each emulated tenant was created with. */
export type EmulatorCredentials = Readonly<Record<Tenant, Readonly<{ clientId: string, clientSecret: string }>>>

export function emulatorUpstreamEnv (emulator: Pick<UpstreamEmulator, 'tokenUrl'>, credentials: EmulatorCredentials): Record<string, string> {
  return {
    BANDWIDTH_CLIENT_ID: credentials.bandwidth.clientId,
    BANDWIDTH_CLIENT_SECRET: credentials.bandwidth.clientSecret,
    BANDWIDTH_TOKEN_URL: emulator.tokenUrl('bandwidth'),
    GLOBAL_WEBRTC_CLIENT_ID: credentials.global.clientId,
    GLOBAL_WEBRTC_CLIENT_SECRET: credentials.global.clientSecret,
    GLOBAL_WEBRTC_TOKEN_URL: emulator.tokenUrl('global'),
    DEFAULT_UPSTREAM: 'global'
  }
}
