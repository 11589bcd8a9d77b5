// The service's environment entries that point both of its upstreams at a running provider
// emulator: each upstream's client id, secret and token URL, and the default upstream; and, when
// asked (`brtc`), the per-user endpoint tokens mode on the emulator's BRTC Endpoints API. Dev
// only: `npm run demo`, `npm run bench`, the soak and the end-to-end test wire the service this
// way, so the wiring is written once.
import { DEFAULT_BRTC } from './brtc.js'
import type { UpstreamEmulator } from './upstream-emulator.js'
import type { Tenant } from './types.js'

/** The client credentials each emulated tenant was created with. */
export type EmulatorCredentials = Readonly<Record<Tenant, Readonly<{ clientId: string, clientSecret: string }>>>

export interface EmulatorEnvOptions {
  /**
   * Enable per-user endpoint tokens against the emulator's BRTC API: `true` for its default
   * account, or the account id to use (one the emulator was created with). Off by default.
   */
  brtc?: boolean | { accountId: string }
}

export function emulatorUpstreamEnv (
  emulator: Pick<UpstreamEmulator, 'tokenUrl' | 'brtcApiUrl'>, credentials: EmulatorCredentials, options: EmulatorEnvOptions = {}
): Record<string, string> {
  const env: Record<string, string> = {
    BANDWIDTH_CLIENT_ID: credentials.bandwidth.clientId,
    BANDWIDTH_CLIENT_SECRET: credentials.bandwidth.clientSecret,
    BANDWIDTH_TOKEN_URL: emulator.tokenUrl('bandwidth'),
    GLOBAL_WEBRTC_CLIENT_ID: credentials.global.clientId,
    GLOBAL_WEBRTC_CLIENT_SECRET: credentials.global.clientSecret,
    GLOBAL_WEBRTC_TOKEN_URL: emulator.tokenUrl('global'),
    DEFAULT_UPSTREAM: 'global'
  }
  const { brtc } = options
  if (brtc !== undefined && brtc !== false) {
    env.BRTC_API_URL = emulator.brtcApiUrl
    env.BRTC_ACCOUNT_ID = brtc === true ? DEFAULT_BRTC.accountId : brtc.accountId
  }
  return env
}
