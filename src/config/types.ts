// The validated, typed configuration. Only src/config/load-config.ts builds it, from the
// environment and *_FILE secret files; everything else receives it.
import type { Secret } from '../lib/secret.js'

export const UPSTREAM_IDS = ['bandwidth', 'global'] as const
export type UpstreamId = typeof UPSTREAM_IDS[number]

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

export type TrustProxy = boolean | number | string[]

export interface Config {
  port: number
  host: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Enabled upstreams only, in the order of UPSTREAM_IDS. */
  upstreams: UpstreamConfig[]
  defaultUpstream: UpstreamId
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
}
