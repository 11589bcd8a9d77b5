// Local emulator of the two OAuth 2.0 client-credentials token endpoints the service calls
// (Bandwidth: id.bandwidth.com, no scope, 3600 s; Global In-App Calling: id.voxbone.com, scope
// voice.webrtc, 600 s), and of Bandwidth's BRTC Endpoints API (brtc.ts), for `npm run demo`,
// the test suites and the compose `dev` profile. It enforces the request as the providers
// document it (a token request's form read as RFC 6749 says: oauth.ts), answers like them,
// counts and logs requests as sent (never credentials), and injects faults. It is outside src/
// on purpose: the production build (dist/) can never contain or reach it. This file only
// serves the token endpoints and dispatches the rest.
//
// Usage:
//   const emu = createUpstreamEmulator({ tenants: { global: { clientId: 'id', clientSecret: 's' } } })
//   await emu.listen()                             // 127.0.0.1, free port; tests keep that
//   fetchTokenFrom(emu.tokenUrl('global'))         // http://127.0.0.1:PORT/global/api/v1/oauth2/token
//   emu.setFault('global', { kind: 'status', status: 503, retryAfter: '7' })
//   emu.setFault('global', null)                   // heal
//   emu.requests('global'); emu.issuedTokens('global'); emu.requestLog()
//   emu.brtcApiUrl                                 // http://127.0.0.1:PORT/v2 (BRTC_API_URL)
//   emu.setFault('brtc', { kind: 'status', status: 429, retryAfter: '3', operation: 'create' })
//   emu.brtcEndpoints(); emu.brtcRequests(); emu.setEndpointLifetime(0)
//   await emu.close()                              // also ends hanging requests at once
// "Connection refused" is not a fault kind: close the emulator (or use a port nothing listens
// on) to get it. The `/__emulator/*` routes (control-routes.ts) are the same control over HTTP.
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createBrtcApi } from './brtc.js'
import type { BearerCheck } from './brtc.js'
import { CONTROL_PREFIX, handleControl } from './control-routes.js'
import { oauthFaultStyle, parseFault, playFault } from './faults.js'
import { checkClient, checkForm, isFormContentType, mintAccessToken, parseForm, sendJson, sendOAuthError } from './oauth.js'
import type { OAuthError } from './oauth.js'
import { FAULT_TARGETS, TENANTS } from './types.js'
import type {
  EmulatorControl, EmulatorOptions, EmulatorStats, Fault, FaultTarget, IssuedToken, ListenOptions, RequestLogEntry, Tenant, TenantConfig
} from './types.js'

export type * from './types.js'
export type * from './brtc-types.js'
export { BRTC_OPERATIONS, FAULT_TARGETS, TENANTS } from './types.js'
export { DEFAULT_BRTC } from './brtc.js'

/** Token path of each tenant, after the provider's own `/api/v1/oauth2/token`. */
export const TOKEN_PATH = '/api/v1/oauth2/token'

/** Dev defaults. Tests and deployments pass their own credentials. */
export const DEFAULT_TENANTS: Readonly<Record<Tenant, Readonly<TenantConfig>>> = {
  bandwidth: { clientId: 'emulator-bandwidth-id', clientSecret: 'emulator-bandwidth-secret', expiresIn: 3600, requiredScope: undefined, issueTokenId: true },
  global: { clientId: 'emulator-global-id', clientSecret: 'emulator-global-secret', expiresIn: 600, requiredScope: 'voice.webrtc', issueTokenId: true }
}

const ISSUERS: Record<Tenant, string> = { bandwidth: 'https://id.bandwidth.com', global: 'https://id.voxbone.com' }
const BODY_LIMIT = 16 * 1024
const SAFE_FIELDS = new Set(['grant_type', 'scope'])
const KNOWN_SCHEMES = new Set(['basic', 'bearer', 'digest', 'negotiate', 'dpop'])

export interface UpstreamEmulator extends EmulatorControl {
  /** Start listening; resolves to `url`. */
  listen (options?: ListenOptions): Promise<string>
  /** Base URL, e.g. http://127.0.0.1:41234 (throws before listen). */
  readonly url: string
  /** The tenant's token endpoint URL. */
  tokenUrl (tenant: Tenant): string
  /** Base URL of the BRTC Endpoints API, `url` + base path: e.g. http://127.0.0.1:41234/v2 (throws before listen). */
  readonly brtcApiUrl: string
  /** Stop listening and destroy every connection, hanging ones included. Idempotent. */
  close (): Promise<void>
}

interface TenantState { config: TenantConfig, fault: Fault | null, requests: number, issued: number }

const tenantOfPath = (path: string): Tenant | undefined =>
  TENANTS.find((tenant) => path === `/${tenant}${TOKEN_PATH}`)

/** Read the body: its size, and its bytes unless it is longer than BODY_LIMIT. */
async function readBody (req: IncomingMessage): Promise<{ raw: Buffer | undefined, size: number }> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size <= BODY_LIMIT) chunks.push(chunk as Buffer)
  }
  return { raw: size <= BODY_LIMIT ? Buffer.concat(chunks) : undefined, size }
}

/** The scheme word of an Authorization header, only when it is a known scheme (never a credential). */
function authScheme (authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined
  const word = authorization.trimStart().split(' ', 1)[0] as string
  return KNOWN_SCHEMES.has(word.toLowerCase()) ? word : '[unrecognised]'
}

/** URL to reach a bound address; an unspecified address (0.0.0.0, ::) is reached on loopback. */
export function baseUrl ({ address, port }: Pick<AddressInfo, 'address' | 'port'>): string {
  const unspecified: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1' }
  const host = unspecified[address] ?? address
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

export function createUpstreamEmulator (options: EmulatorOptions = {}): UpstreamEmulator {
  const initial = Object.fromEntries(TENANTS.map((t) => [t, { ...DEFAULT_TENANTS[t], ...options.tenants?.[t] }])) as Record<Tenant, TenantConfig>
  const logLimit = options.logLimit ?? 200
  const tokenLimit = options.tokenLimit ?? 10_000
  const controlRoutes = options.controlRoutes ?? true
  let state = {} as Record<Tenant, TenantState>
  let log: RequestLogEntry[] = []
  let tokens: IssuedToken[] = []
  let seq = 0
  const hanging = new Map<ServerResponse, FaultTarget>()

  const endHanging = (target?: FaultTarget): void => {
    for (const [res, t] of hanging) if (target === undefined || t === target) res.destroy()
  }
  const hangOn = (target: FaultTarget) => (res: ServerResponse): void => {
    hanging.set(res, target)
    res.once('close', () => hanging.delete(res))
  }

  /** A bearer token presented to the BRTC API: one the `bandwidth` token endpoint issued, unexpired. */
  const checkBearer = (token: string): BearerCheck => {
    const issued = tokens.findLast((x) => x.tenant === 'bandwidth' && x.accessToken === token)
    if (issued === undefined) return 'unknown'
    return issued.issuedAt + issued.expiresIn * 1000 > Date.now() ? 'valid' : 'expired'
  }

  const brtc = createBrtcApi({
    options: options.brtc,
    logLimit,
    checkBearer,
    onHang: hangOn('brtc'),
    authScheme,
    fallbackOrigin: () => emulator.url
  })

  const control: EmulatorControl = {
    setFault (target, fault) {
      if (!FAULT_TARGETS.includes(target)) throw new TypeError(`target must be one of ${FAULT_TARGETS.join(', ')}`)
      const parsed = parseFault(fault)
      if (target !== 'brtc' && parsed?.operation !== undefined) throw new TypeError('fault.operation applies to the brtc target only')
      if (target === 'brtc') brtc.setFault(parsed)
      else state[target].fault = parsed
      endHanging(target)
    },
    setExpiresIn (tenant, seconds) {
      if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new TypeError('seconds must be a finite number')
      state[tenant].config.expiresIn = seconds
    },
    setCredentials (tenant, clientId, clientSecret) {
      if (clientId.includes(':')) throw new TypeError('A Basic user-id cannot contain ":"')
      Object.assign(state[tenant].config, { clientId, clientSecret })
    },
    setClientSecret (tenant, clientSecret) {
      state[tenant].config.clientSecret = clientSecret
    },
    setSecondarySecret (tenant, secret) {
      state[tenant].config.secondarySecret = secret ?? undefined
    },
    setEndpointLifetime: (seconds) => brtc.setEndpointLifetime(seconds),
    setBrtcEndpointStatus: (endpointId, status) => brtc.setEndpointStatus(endpointId, status),
    reset () {
      endHanging()
      brtc.reset()
      state = Object.fromEntries(TENANTS.map((t) => [t, { config: { ...initial[t] }, fault: null, requests: 0, issued: 0 }])) as Record<Tenant, TenantState>
      log = []
      tokens = []
      seq = 0
    },
    requests: (tenant) => state[tenant].requests,
    requestLog: () => log.map((entry) => structuredClone(entry)),
    issuedTokens: (tenant) => tokens.filter((token) => tenant === undefined || token.tenant === tenant).map((token) => ({ ...token })),
    brtcEndpoints: (accountId) => brtc.endpoints(accountId),
    brtcRequests: () => brtc.requests(),
    stats (): EmulatorStats {
      const per = <T>(f: (t: Tenant) => T): Record<Tenant, T> => Object.fromEntries(TENANTS.map((t) => [t, f(t)])) as Record<Tenant, T>
      return {
        requests: per((t) => state[t].requests),
        issued: per((t) => state[t].issued),
        faults: per((t) => state[t].fault),
        expiresIn: per((t) => state[t].config.expiresIn),
        brtc: brtc.stats()
      }
    }
  }
  control.reset()

  function record (req: IncomingMessage, tenant: Tenant, path: string, raw: Buffer | undefined, size: number): RequestLogEntry {
    const contentType = req.headers['content-type']
    const form = raw !== undefined && isFormContentType(contentType) ? parseForm(raw.toString('utf8')) : undefined
    const entry: RequestLogEntry = {
      seq: ++seq,
      at: new Date().toISOString(),
      tenant,
      method: req.method as string,
      path,
      headerNames: req.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase()),
      contentType,
      accept: req.headers.accept,
      authScheme: authScheme(req.headers.authorization),
      body: form?.map(([name, value]): [string, string] => [name, SAFE_FIELDS.has(name) ? value : '[redacted]']),
      bodyBytes: size,
      outcome: 0,
      error: undefined,
      fault: undefined
    }
    log.push(entry)
    if (log.length > logLimit) log.shift()
    return entry
  }

  /** The token endpoint proper: every rule, then a fresh token. */
  function answer (req: IncomingMessage, res: ServerResponse, tenant: Tenant, raw: Buffer | undefined, entry: RequestLogEntry): void {
    const { config, fault } = state[tenant]
    const realm = `${tenant} token endpoint (emulated)`
    const fail = (e: OAuthError, headers: Record<string, string> = {}): void => {
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
      sendOAuthError(res, e, realm)
      entry.outcome = e.status
      entry.error = e.error
    }
    if (req.method !== 'POST') return fail({ status: 405, error: 'invalid_request', description: 'Use POST' }, { Allow: 'POST' })
    if (fault !== null) {
      entry.fault = fault.kind
      entry.outcome = playFault(req, res, fault, oauthFaultStyle(realm), hangOn(tenant))
      return
    }
    if (raw === undefined) return fail({ status: 413, error: 'invalid_request', description: 'Body too large' })
    if (!isFormContentType(entry.contentType)) {
      return fail({ status: 400, error: 'invalid_request', description: 'Content-Type must be application/x-www-form-urlencoded' })
    }
    const problem = checkClient(req.headers.authorization, config) ?? checkForm(entry.body as Array<[string, string]>, config)
    if (problem !== undefined) return fail(problem)

    const { token, id } = mintAccessToken(ISSUERS[tenant], config.requiredScope, config.expiresIn)
    const accessTokenId = config.issueTokenId ? id : undefined
    state[tenant].issued++
    tokens.push({ tenant, accessToken: token, accessTokenId, expiresIn: config.expiresIn, issuedAt: Date.now() })
    if (tokens.length > tokenLimit) tokens.shift()
    // Field order as in the provider's documented answer.
    sendJson(res, 200, { access_token: token, access_token_id: accessTokenId, token_type: 'Bearer', expires_in: config.expiresIn })
    entry.outcome = 200
  }

  /** Dispatch: a token path, a control route, the BRTC API, or a 404. */
  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url as string, 'http://emulator')
    const path = url.pathname
    const tenant = tenantOfPath(path)
    const isControl = tenant === undefined && controlRoutes && path.startsWith(CONTROL_PREFIX)
    const isBrtc = tenant === undefined && !isControl && brtc.owns(path)
    if (tenant === undefined && !isControl && !isBrtc) {
      req.resume()
      return sendJson(res, 404, { error: 'not_found' })
    }
    if (tenant !== undefined) state[tenant].requests++
    const { raw, size } = await readBody(req)
    if (tenant !== undefined) return answer(req, res, tenant, raw, record(req, tenant, path, raw, size))
    if (isBrtc) return brtc.handle(req, res, url, raw, size)
    if (raw === undefined) return sendJson(res, 413, { error: 'payload_too_large' })
    handleControl(control, path.slice(CONTROL_PREFIX.length), req.method as string, raw.toString('utf8'), req.headers['content-type'], res)
  }

  const server = createServer((req, res) => {
    // A client that goes away mid-body makes readBody throw: nothing is left to answer.
    handle(req, res).catch(() => res.destroy())
  })

  const emulator: UpstreamEmulator = {
    ...control,
    async listen ({ host = '127.0.0.1', port = 0 } = {}) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      return emulator.url
    },
    get url () {
      const address = server.address() as AddressInfo | null
      if (address === null) throw new Error('The emulator is not listening')
      return baseUrl(address)
    },
    tokenUrl (tenant) {
      return `${emulator.url}/${tenant}${TOKEN_PATH}`
    },
    get brtcApiUrl () {
      return `${emulator.url}${brtc.basePath}`
    },
    async close () {
      if (!server.listening) return
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    }
  }
  return emulator
}
