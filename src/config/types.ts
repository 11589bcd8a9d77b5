// The validated, typed configuration. Only src/config/parse-config.ts builds it, from the
// environment and the contents of the *_FILE files; everything else receives it.
import type { Secret } from '../lib/secret.js'
import type { FileVariable } from './schema.js'

export type UpstreamId = 'bandwidth' | 'global'

export interface UpstreamConfig {
  id: UpstreamId
  tokenUrl: URL
  clientId: string
  clientSecret: Secret
  /** Sent as `scope=` in the token request body; undefined sends none. */
  scope: string | undefined
  expiryMarginSeconds: number
}

export interface ApiKeyEntry {
  /** The caller identity; safe to log. */
  name: string
  /** SHA-256 of the key (given directly by the `name:sha256:<hex>` form). */
  sha256: Buffer
}

export interface JwtAuthConfig {
  jwksUrl: URL
  issuer: string
  audience: string
}

/** Per-user endpoint tokens (BRTC_ACCOUNT_ID set). */
export interface BrtcConfig {
  accountId: string
  /** The Endpoints API base, e.g. https://api.bandwidth.com/v2 (no trailing slash). */
  apiUrl: URL
  eventCallbackUrl: URL | undefined
  maxEndpointsPerCaller: number
  sweepIntervalSeconds: number
}

export type TrustProxy = boolean | number | string[]

export interface Config {
  port: number
  host: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Enabled upstreams only: bandwidth first, then global. */
  upstreams: UpstreamConfig[]
  defaultUpstream: UpstreamId
  /**
   * The upstreams `GET /token/webrtc` hands out: every enabled one, except `bandwidth` when the
   * per-user endpoint tokens mode is on, whose account-wide token then stays on the server.
   */
  tokenUpstreams: UpstreamId[]
  /** Fraction (0, 1) of a token's lifetime after which a background refresh starts. */
  tokenRefreshAt: number
  upstreamTimeoutMs: number
  apiKeys: ApiKeyEntry[]
  jwt: JwtAuthConfig | undefined
  /** Exact origins allowed by CORS; empty sends no CORS headers. */
  corsOrigins: string[]
  rateLimit: { max: number, windowMs: number }
  /** May carry a password, so it is a Secret. */
  redisUrl: Secret | undefined
  trustProxy: TrustProxy
  /** Serve /metrics on this port only; undefined serves it on the API port. */
  metricsPort: number | undefined
  brtc: BrtcConfig | undefined
  /** The `<NAME>_FILE` paths in use, by variable: the files a reload re-reads. */
  secretFiles: Partial<Record<FileVariable, string>>
  secretFilesPollSeconds: number
}
