// Types shared by the upstream emulator's modules. The emulator imitates the two OAuth 2.0
// token endpoints (Bandwidth and Global In-App Calling) for demos and tests; it lives outside
// src/ so that the production build can never include or reach it.

/** The two emulated providers, named as the service's upstream ids. */
export type Tenant = 'bandwidth' | 'global'

export const TENANTS: readonly Tenant[] = ['bandwidth', 'global']

export interface TenantConfig {
  clientId: string
  clientSecret: string
  /** `expires_in` of issued tokens, seconds. Any finite number, to test odd values. */
  expiresIn: number
  /** Scope the body must carry (exactly); `undefined`: the body must carry no scope. */
  requiredScope: string | undefined
  /** Include `access_token_id` (a UUID) in successful responses. */
  issueTokenId: boolean
}

/**
 * A programmed misbehaviour. It replaces the whole answer of the tenant's token endpoint,
 * whatever the request, until cleared. The request is still read, counted and logged.
 */
export type Fault =
  /** That status; body defaults to an OAuth error JSON fitting the status. */
  | { kind: 'status', status: number, retryAfter?: string, body?: string, contentType?: string }
  /** Read the request, never answer. The socket is destroyed by the next setFault on the tenant, reset or close. */
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
   * Form fields in order, as [name, value]; values other than `grant_type` and `scope`
   * are replaced by `[redacted]`. `undefined` when the body was not a form.
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
}

/** The programmatic control surface (also reachable over HTTP, see control-routes.ts). */
export interface EmulatorControl {
  /** Program a fault for every following request of the tenant; `null` clears it. */
  setFault (tenant: Tenant, fault: Fault | null): void
  setExpiresIn (tenant: Tenant, seconds: number): void
  setCredentials (tenant: Tenant, clientId: string, clientSecret: string): void
  /** Back to the configuration given at creation; counters, log and tokens cleared. */
  reset (): void
  /** Requests received on the tenant's token path, failed ones included. */
  requests (tenant: Tenant): number
  /** The last requests (oldest first), without credentials. */
  requestLog (): RequestLogEntry[]
  /** Tokens issued (oldest first), all tenants or one. */
  issuedTokens (tenant?: Tenant): IssuedToken[]
  stats (): EmulatorStats
}
