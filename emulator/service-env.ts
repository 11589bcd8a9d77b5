// The service's environment entries that point its upstreams (both, unless told which) at a
// running provider emulator: each upstream's client id, secret and token URL, and with both the
// default upstream; and, when asked (`brtc`), the per-user endpoint tokens mode on the emulator's
// BRTC Endpoints API. Dev only: `npm run demo`, `npm run bench`, the soak and the tests wire the
// service this way, so the wiring is written once.
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
  /** The upstreams to enable; both by default (then `global` is the default upstream). */
  upstreams?: readonly Tenant[]
}

export function emulatorUpstreamEnv (
  emulator: Pick<UpstreamEmulator, 'tokenUrl' | 'brtcApiUrl'>, credentials: EmulatorCredentials, options: EmulatorEnvOptions = {}
): Record<string, string> {
  const { brtc, upstreams = ['bandwidth', 'global'] } = options
  const env: Record<string, string> = {}
  if (upstreams.includes('bandwidth')) {
    env.BANDWIDTH_CLIENT_ID = credentials.bandwidth.clientId
    env.BANDWIDTH_CLIENT_SECRET = credentials.bandwidth.clientSecret
    env.BANDWIDTH_TOKEN_URL = emulator.tokenUrl('bandwidth')
  }
  if (upstreams.includes('global')) {
    env.GLOBAL_WEBRTC_CLIENT_ID = credentials.global.clientId
    env.GLOBAL_WEBRTC_CLIENT_SECRET = credentials.global.clientSecret
    env.GLOBAL_WEBRTC_TOKEN_URL = emulator.tokenUrl('global')
  }
  if (upstreams.length > 1) env.DEFAULT_UPSTREAM = 'global'
  if (brtc !== undefined && brtc !== false) {
    env.BRTC_API_URL = emulator.brtcApiUrl
    env.BRTC_ACCOUNT_ID = brtc === true ? DEFAULT_BRTC.accountId : brtc.accountId
  }
  return env
}
