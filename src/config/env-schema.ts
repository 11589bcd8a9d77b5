// The raw environment this service reads, as a TypeBox schema: every variable is an optional
// string (an environment holds nothing else), with its default and the shape it must have.
// It is the one list of variable names, defaults and per-variable rules; what JSON Schema
// cannot say (numeric ranges beyond digits, URLs, pairs, lists) is checked in load-config.ts
// and its helpers. Each `description` completes the sentence "<NAME> must be …" in problems.
import { Type, type Static } from 'typebox'

/** Largest delay a Node.js timer accepts (2^31 - 1 ms); also a sane cap for counts. */
const MAX_INT32 = 2_147_483_647

/** Inclusive ranges of the integer variables; their strings must be plain digits first. */
export const INTEGER_RANGES = {
  PORT: [0, 65_535],
  BANDWIDTH_EXPIRY_MARGIN_SECONDS: [0, 3600],
  GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: [0, 3600],
  UPSTREAM_TIMEOUT_MS: [100, 60_000],
  RATE_LIMIT_MAX: [1, MAX_INT32],
  RATE_LIMIT_WINDOW_MS: [1000, MAX_INT32],
} as const satisfies Record<string, readonly [number, number]>

export type IntegerName = keyof typeof INTEGER_RANGES

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Variables that may instead be read from the file named by `<NAME>_FILE`. */
export const FILE_NAMES = [
  'BANDWIDTH_CLIENT_ID',
  'BANDWIDTH_CLIENT_SECRET',
  'GLOBAL_WEBRTC_CLIENT_ID',
  'GLOBAL_WEBRTC_CLIENT_SECRET',
  'API_KEYS',
  'REDIS_URL',
] as const

function integer (name: IntegerName, defaultValue: number) {
  const [min, max] = INTEGER_RANGES[name]
  return Type.Optional(Type.String({
    pattern: '^[0-9]{1,10}$',
    description: `an integer from ${min} to ${max}`,
    default: String(defaultValue),
  }))
}

function text (description: string, pattern: string, defaultValue?: string) {
  return Type.Optional(Type.String({
    pattern,
    description,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  }))
}

/** Any non-empty string without control characters (no stray newline from a file or a paste). */
const PRINTABLE = '^[^\\x00-\\x1f\\x7f]+$'
/** As PRINTABLE, and without ':' which would split the `id:secret` of HTTP Basic ambiguously. */
const CLIENT_ID = '^[^:\\x00-\\x1f\\x7f]+$'
/** RFC 6749 §3.3: space-separated scope tokens of NQCHAR. */
const SCOPE = '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+( [\\x21\\x23-\\x5b\\x5d-\\x7e]+)*$'
/** A decimal fraction strictly between 0 and 1: `0.8` or `.8`, not all zeros, not `1`. */
const FRACTION = '^0?\\.(?=[0-9]*[1-9])[0-9]{1,6}$'
/** A host name or an IPv4/IPv6 address (with an optional zone id). */
const HOST = '^[A-Za-z0-9._:%-]+$'

const clientId = text('a non-empty string without ":" or control characters', CLIENT_ID)
const clientSecret = text('a non-empty string without control characters', PRINTABLE)
const url = (kind: string, defaultValue?: string) => text(`an absolute ${kind} URL without credentials`, PRINTABLE, defaultValue)

export const EnvSchema = Type.Object({
  PORT: integer('PORT', 8080),
  HOST: text('a host name or IP address', HOST, '0.0.0.0'),
  LOG_LEVEL: Type.Optional(Type.Enum(LOG_LEVELS, { default: 'info', description: `one of ${LOG_LEVELS.join(', ')}` })),

  BANDWIDTH_CLIENT_ID: clientId,
  BANDWIDTH_CLIENT_SECRET: clientSecret,
  BANDWIDTH_TOKEN_URL: url('http: or https:', 'https://id.bandwidth.com/api/v1/oauth2/token'),
  BANDWIDTH_EXPIRY_MARGIN_SECONDS: integer('BANDWIDTH_EXPIRY_MARGIN_SECONDS', 10),

  GLOBAL_WEBRTC_CLIENT_ID: clientId,
  GLOBAL_WEBRTC_CLIENT_SECRET: clientSecret,
  GLOBAL_WEBRTC_TOKEN_URL: url('http: or https:', 'https://id.voxbone.com/api/v1/oauth2/token'),
  GLOBAL_WEBRTC_SCOPE: text('one or more space-separated OAuth scope tokens', SCOPE, 'voice.webrtc'),
  GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: integer('GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS', 30),

  DEFAULT_UPSTREAM: Type.Optional(Type.Enum(['bandwidth', 'global'], { description: 'one of bandwidth, global' })),
  TOKEN_REFRESH_AT: text('a decimal fraction strictly between 0 and 1, such as 0.8', FRACTION, '0.8'),
  UPSTREAM_TIMEOUT_MS: integer('UPSTREAM_TIMEOUT_MS', 5000),

  API_KEYS: text('comma-separated name:key or name:sha256:<64 hex digits> entries', '^[\\s\\S]+$'),
  AUTH_JWKS_URL: url('http: or https:'),
  AUTH_ISSUER: text('a non-empty string without control characters', PRINTABLE),
  AUTH_AUDIENCE: text('a non-empty string without control characters', PRINTABLE),

  CORS_ORIGINS: text('comma-separated exact origins such as https://app.example.com', PRINTABLE),
  RATE_LIMIT_MAX: integer('RATE_LIMIT_MAX', 60),
  RATE_LIMIT_WINDOW_MS: integer('RATE_LIMIT_WINDOW_MS', 60_000),
  REDIS_URL: url('redis: or rediss:'),
  TRUST_PROXY: text('true, false, a hop count, or comma-separated IP addresses/CIDR ranges', PRINTABLE, 'false'),
})

/** The environment as read: explicitly set variables (and their `*_FILE` contents) plus defaults. */
export type RawEnv = Static<typeof EnvSchema>
export type EnvName = keyof RawEnv

export const ENV_NAMES = Object.keys(EnvSchema.properties) as EnvName[]

/** What `<NAME> must be …` says for a variable. */
export function describeVariable (name: EnvName): string {
  // Every property above is built with a description.
  return String(Reflect.get(EnvSchema.properties[name], 'description'))
}
