// Types shared by the upstream emulator's modules. The emulator imitates the two OAuth 2.0
// token endpoints (Bandwidth and Global In-App Calling) and Bandwidth's BRTC Endpoints API for
// demos and tests; it lives outside src/ so that the production build can never include or
// reach it. The BRTC API's own types are in brtc-types.ts.
import type { BrtcEndpointRecord, BrtcEndpointStatus, BrtcOptions, BrtcRequestLogEntry, BrtcStats } from './brtc-types.js'

/** The two emulated providers, named as the service's upstream ids. */
export type Tenant = 'bandwidth' | 'global'

export const TENANTS: readonly Tenant[] = ['bandwidth', 'global']

/** What a fault can be programmed on: a tenant's token endpoint, or the BRTC Endpoints API. */
export type FaultTarget = Tenant | 'brtc'

export const FAULT_TARGETS: readonly FaultTarget[] = [...TENANTS, 'brtc']

/** The four operations of the BRTC Endpoints API (see brtc.ts). */
export type BrtcOperation = 'create' | 'list' | 'get' | 'delete'

export const BRTC_OPERATIONS: readonly BrtcOperation[] = ['create', 'list', 'get', 'delete']

export interface TenantConfig {
  clientId: string
  clientSecret: string
  /** A second secret accepted for the same client id, as the provider allows during a rotation. */
  secondarySecret?: string
  /** `expires_in` of issued tokens, seconds. Any finite number, to test odd values. */
  expiresIn: number
  /** Scope the body must carry (exactly); `undefined`: the body must carry no scope (an empty `scope=` is none). */
  requiredScope: string | undefined
  /** Include `access_token_id` (a UUID) in successful responses. */
  issueTokenId: boolean
}

/**
 * A programmed misbehaviour. It replaces the whole answer of the target (a tenant's token
 * endpoint, or the BRTC API), whatever the request, until cleared. The request is still read,
 * counted and logged.
 */
export type Fault = FaultBehaviour & {
  /**
   * BRTC only: play the fault on this operation alone; the others answer normally.
   * Absent: every BRTC request, unknown paths and wrong methods included.
   */
  operation?: BrtcOperation
}

export type FaultBehaviour =
  /**
   * That status; body defaults to an error JSON fitting the status and the target: OAuth's
   * `{error, error_description}` on a token endpoint, a brtcErrorResponse on BRTC. `retryAfter`
   * is sent as `Retry-After`; left out, a BRTC 429 still carries one (the spec requires it:
   * see brtcFaultStyle) and anything else none; `null` sends none at all.
   */
  | { kind: 'status', status: number, retryAfter?: string | null, body?: string, contentType?: string }
  /** Read the request, never answer. The socket is destroyed by the next setFault on the target, reset or close. */
  | { kind: 'hang' }
  /** 200 text/html page (a captive portal or WAF answering instead of the provider). */
  | { kind: 'html' }
  /** 200 application/json whose bytes are not JSON. */
  | { kind: 'garbage' }
  /** 200 application/json with this value, serialised as is. */
  | { kind: 'json', body: unknown }
  /** Reset the TCP connection (RST) without any response. */
  | { kind: 'drop' }

/** What happened to a request: an HTTP status, or the connection-level fault applied. */
export type Outcome = number | 'hang' | 'drop'

/** One received request, without any credential. */
export interface RequestLogEntry {
  seq: number
  at: string
  tenant: Tenant
  method: string
  /** Path only: the query string is never recorded. */
  path: string
  /** Header names, lower case, in the order received. Values are never recorded... */
  headerNames: string[]
  /** ...except these three, which carry no secret. */
  contentType: string | undefined
  accept: string | undefined
  /** Scheme word of the Authorization header (e.g. `Basic`), never its credentials. */
  authScheme: string | undefined
  /**
   * Form fields in order, as [name, value], exactly as sent: empty values, repeats and the
   * parameters the endpoint ignores included, so a test can check every field a client sends.
   * Values other than `grant_type` and `scope` are replaced by `[redacted]`. `undefined` when
   * the body was not a form.
   */
  body: Array<[string, string]> | undefined
  bodyBytes: number
  outcome: Outcome
  /** OAuth `error` code answered, if any. */
  error: string | undefined
  /** Kind of the fault applied, if any. */
  fault: Fault['kind'] | undefined
}

/** A token the emulator issued (real values: tests look for them in logs and responses). */
export interface IssuedToken {
  tenant: Tenant
  accessToken: string
  accessTokenId: string | undefined
  expiresIn: number
  issuedAt: number
}

export interface EmulatorOptions {
  /** Per-tenant overrides of the defaults (see DEFAULT_TENANTS). */
  tenants?: Partial<Record<Tenant, Partial<TenantConfig>>>
  /** Keep this many last requests in the log (default 200). */
  logLimit?: number
  /** Keep this many last issued tokens (default 10000). */
  tokenLimit?: number
  /** Serve the dev-only `/__emulator/*` control routes (default true). */
  controlRoutes?: boolean
  /** The emulated BRTC Endpoints API (see brtc-types.ts for the defaults). */
  brtc?: BrtcOptions
}

export interface ListenOptions {
  /** Default 127.0.0.1. Tests must keep the default; a container may bind 0.0.0.0. */
  host?: string
  /** Default 0: a free port. */
  port?: number
}

/** Counters and settings, as `GET /__emulator/stats` returns them. No credential, no token. */
export interface EmulatorStats {
  requests: Record<Tenant, number>
  /** Tokens issued since creation or reset (not bounded by tokenLimit). */
  issued: Record<Tenant, number>
  faults: Record<Tenant, Fault | null>
  expiresIn: Record<Tenant, number>
  /** The BRTC API: counters, its fault and its endpoint lifetime (no endpoint id, no token). */
  brtc: BrtcStats
}

/** The programmatic control surface (also reachable over HTTP, see control-routes.ts). */
export interface EmulatorControl {
  /**
   * Program a fault for every following request of the target; `null` clears it. `operation`
   * is accepted on 'brtc' only (TypeError otherwise).
   */
  setFault (target: FaultTarget, fault: Fault | null): void
  setExpiresIn (tenant: Tenant, seconds: number): void
  setCredentials (tenant: Tenant, clientId: string, clientSecret: string): void
  /** The tenant's client secret, its client id kept. */
  setClientSecret (tenant: Tenant, clientSecret: string): void
  /** Also accept `secret` for the tenant's client id (the provider's two active secrets); null stops. */
  setSecondarySecret (tenant: Tenant, secret: string | null): void
  /**
   * Lifetime of the BRTC endpoints created from now on, seconds (any finite number: 0 or less
   * creates endpoints that are already expired). Default 86400 ("Tokens last 24 hours").
   */
  setEndpointLifetime (seconds: number): void
  /** Whether a device is connected to a stored BRTC endpoint (throws when there is no such endpoint). */
  setBrtcEndpointStatus (endpointId: string, status: BrtcEndpointStatus): void
  /** Back to the configuration given at creation; counters, logs, tokens and BRTC endpoints cleared. */
  reset (): void
  /** Requests received on the tenant's token path, failed ones included. */
  requests (tenant: Tenant): number
  /** The last requests (oldest first), without credentials. */
  requestLog (): RequestLogEntry[]
  /** Tokens issued (oldest first), all tenants or one. */
  issuedTokens (tenant?: Tenant): IssuedToken[]
  /** The stored BRTC endpoints (oldest first), all accounts or one, tokens included (copies). */
  brtcEndpoints (accountId?: string): BrtcEndpointRecord[]
  /** The last BRTC requests (oldest first; same logLimit), without any token. */
  brtcRequests (): BrtcRequestLogEntry[]
  stats (): EmulatorStats
}
