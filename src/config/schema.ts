// The environment this service reads, as one TypeBox schema: every variable, its default, and
// the type and range it must have. TypeBox converts the strings an environment holds into those
// types (src/config/parse-config.ts); what JSON Schema cannot say (URLs, pairs, lists) is checked
// there. Each `description` completes the sentence "<NAME> must be …" in a problem.
import { Type, type Static, type TSchema } from 'typebox'
import { MAX_TIMER_MS } from '../lib/values.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Variables that may instead be read from the file named by `<NAME>_FILE` (and re-read when it changes). */
export const FILE_VARIABLES = [
  'BANDWIDTH_CLIENT_ID',
  'BANDWIDTH_CLIENT_SECRET',
  'GLOBAL_WEBRTC_CLIENT_ID',
  'GLOBAL_WEBRTC_CLIENT_SECRET',
  'API_KEYS',
  'REDIS_URL',
] as const
export type FileVariable = typeof FILE_VARIABLES[number]

const integer = (minimum: number, maximum: number, defaultValue?: number) => Type.Optional(Type.Integer({
  minimum,
  maximum,
  description: `an integer from ${minimum} to ${maximum}`,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
}))

const text = (description: string, pattern: string, defaultValue?: string) => Type.Optional(Type.String({
  pattern,
  description,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
}))

/** Any non-empty string without control characters (no stray newline from a file or a paste). */
const PRINTABLE = '^[^\\x00-\\x1f\\x7f]+$'
/** As PRINTABLE, and without ':' which would split the `id:secret` of HTTP Basic ambiguously. */
const CLIENT_ID = '^[^:\\x00-\\x1f\\x7f]+$'
/** RFC 6749 §3.3: space-separated scope tokens of NQCHAR. */
const SCOPE = '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+( [\\x21\\x23-\\x5b\\x5d-\\x7e]+)*$'
/** A host name or an IPv4/IPv6 address (with an optional zone id). */
const HOST = '^[A-Za-z0-9._:%-]+$'

const clientId = text('a non-empty string without ":" or control characters', CLIENT_ID)
const clientSecret = text('a non-empty string without control characters', PRINTABLE)
// Only the characters are checked here; parse-config names what else a URL of each variable
// must be (its scheme, a host, https unless loopback, credentials only in REDIS_URL).
const url = (defaultValue?: string) => text('a URL without control characters', PRINTABLE, defaultValue)

export const EnvSchema = Type.Object({
  PORT: integer(0, 65_535, 8080),
  HOST: text('a host name or IP address', HOST, '0.0.0.0'),
  LOG_LEVEL: Type.Optional(Type.Enum(LOG_LEVELS, { default: 'info', description: `one of ${LOG_LEVELS.join(', ')}` })),

  BANDWIDTH_CLIENT_ID: clientId,
  BANDWIDTH_CLIENT_SECRET: clientSecret,
  BANDWIDTH_TOKEN_URL: url('https://id.bandwidth.com/api/v1/oauth2/token'),
  BANDWIDTH_EXPIRY_MARGIN_SECONDS: integer(0, 3600, 10),

  GLOBAL_WEBRTC_CLIENT_ID: clientId,
  GLOBAL_WEBRTC_CLIENT_SECRET: clientSecret,
  GLOBAL_WEBRTC_TOKEN_URL: url('https://id.voxbone.com/api/v1/oauth2/token'),
  GLOBAL_WEBRTC_SCOPE: text('one or more space-separated OAuth scope tokens', SCOPE, 'voice.webrtc'),
  GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: integer(0, 3600, 30),

  DEFAULT_UPSTREAM: Type.Optional(Type.Enum(['bandwidth', 'global'], { description: 'one of bandwidth, global' })),
  TOKEN_REFRESH_AT: Type.Optional(Type.Number({
    exclusiveMinimum: 0,
    exclusiveMaximum: 1,
    default: 0.8,
    description: 'a decimal fraction strictly between 0 and 1, such as 0.8',
  })),
  UPSTREAM_TIMEOUT_MS: integer(100, 60_000, 5000),

  API_KEYS: text('comma-separated name:key or name:sha256:<64 hex digits> entries', '^[\\s\\S]+$'),
  AUTH_JWKS_URL: url(),
  AUTH_ISSUER: text('a non-empty string without control characters', PRINTABLE),
  AUTH_AUDIENCE: text('a non-empty string without control characters', PRINTABLE),

  CORS_ORIGINS: text('comma-separated exact origins such as https://app.example.com', PRINTABLE),
  // The window is a timer delay, so at most the longest one a timer accepts (2^31 - 1 ms); the
  // same bound is a sane cap for the count.
  RATE_LIMIT_MAX: integer(1, MAX_TIMER_MS, 60),
  RATE_LIMIT_WINDOW_MS: integer(1000, MAX_TIMER_MS, 60_000),
  REDIS_URL: url(),
  TRUST_PROXY: text('true, false, a hop count, or comma-separated IP addresses/CIDR ranges', PRINTABLE, 'false'),
  SECRET_FILES_POLL_SECONDS: integer(1, 86_400, 10),
  METRICS_PORT: integer(1, 65_535),

  // Bandwidth account ids are decimal digits; the Endpoints API refuses anything else with a 400.
  BRTC_ACCOUNT_ID: text('a Bandwidth account id: 1 to 64 decimal digits', '^[0-9]{1,64}$'),
  BRTC_API_URL: url('https://api.bandwidth.com/v2'),
  BRTC_EVENT_CALLBACK_URL: url(),
  BRTC_MAX_ENDPOINTS_PER_CALLER: integer(1, 1000, 5),
  BRTC_SWEEP_INTERVAL_SECONDS: integer(10, 86_400, 300),
})

/** The environment after defaults and conversion: numbers are numbers. */
export type Env = Static<typeof EnvSchema>
export type EnvName = keyof Env

export const ENV_NAMES = Object.keys(EnvSchema.properties) as EnvName[]

function schemaOf (name: EnvName): TSchema & { type?: unknown, description?: unknown } {
  return EnvSchema.properties[name] as TSchema & { type?: unknown, description?: unknown }
}

/** What `<NAME> must be …` says for a variable. */
export function describeVariable (name: EnvName): string {
  return String(schemaOf(name).description)
}

/** 'integer' or 'number' for the numeric variables, else undefined. */
export function numericType (name: EnvName): 'integer' | 'number' | undefined {
  const type = schemaOf(name).type
  return type === 'integer' || type === 'number' ? type : undefined
}
