// Builds the validated Config from an environment (the caller passes process.env; this is the
// only code that reads environment values). Every problem is collected, then thrown together as
// one ConfigError whose lines name variables and never their values, so the error can be
// logged as is and startup fails fast with the whole list at once.
import { readFileSync } from 'node:fs'
import { Secret } from '../lib/secret.js'
import type { EnvName, RawEnv } from './env-schema.js'
import { parseApiKeys } from './parse-api-keys.js'
import { parseCorsOrigins } from './parse-cors-origins.js'
import { parseTrustProxy } from './parse-trust-proxy.js'
import { EnvReader, type ReadFile } from './read-env.js'
import type { Config, JwtAuthConfig, UpstreamConfig, UpstreamId } from './types.js'

export class ConfigError extends Error {
  /** One line per problem, each naming a variable; never a value. */
  readonly problems: string[]

  constructor (problems: readonly string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = [...problems]
  }
}

export interface LoadConfigDeps {
  /** Reads a `*_FILE` secret; defaults to fs.readFileSync as UTF-8. */
  readFile?: ReadFile
}

interface UpstreamSpec {
  id: UpstreamId
  clientId: EnvName
  clientSecret: EnvName
  tokenUrl: EnvName
  scope: EnvName | undefined
  margin: EnvName
}

const UPSTREAM_SPECS: readonly UpstreamSpec[] = [
  {
    id: 'bandwidth',
    clientId: 'BANDWIDTH_CLIENT_ID',
    clientSecret: 'BANDWIDTH_CLIENT_SECRET',
    tokenUrl: 'BANDWIDTH_TOKEN_URL',
    scope: undefined,
    margin: 'BANDWIDTH_EXPIRY_MARGIN_SECONDS',
  },
  {
    id: 'global',
    clientId: 'GLOBAL_WEBRTC_CLIENT_ID',
    clientSecret: 'GLOBAL_WEBRTC_CLIENT_SECRET',
    tokenUrl: 'GLOBAL_WEBRTC_TOKEN_URL',
    scope: 'GLOBAL_WEBRTC_SCOPE',
    margin: 'GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS',
  },
]

const AUTH_NAMES = ['AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE'] as const

const defaultReadFile: ReadFile = path => readFileSync(path, 'utf8')

export function loadConfig (env: Record<string, string | undefined>, deps: LoadConfigDeps = {}): Config {
  const reader = new EnvReader(env, deps.readFile ?? defaultReadFile)
  const { problems } = reader
  // With no problem recorded, every variable with a default has a valid value; before that
  // point a number may be NaN, and then this function throws instead of returning it.
  const value = <N extends EnvName>(name: N) => reader.get(name) as NonNullable<RawEnv[N]>
  const number = (name: EnvName): number => Number(reader.get(name))

  const { upstreams, defaultUpstream } = readUpstreams(reader, number)
  const jwt = readJwt(reader)
  const apiKeysValue = reader.get('API_KEYS')
  const apiKeys = apiKeysValue === undefined ? [] : parseApiKeys(apiKeysValue, reader.label('API_KEYS'), problems)
  if (!reader.has('API_KEYS') && !AUTH_NAMES.some(name => reader.has(name))) {
    problems.push('no authentication method configured: set API_KEYS and/or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE')
  }
  const corsValue = reader.get('CORS_ORIGINS')
  const corsOrigins = corsValue === undefined ? [] : parseCorsOrigins(corsValue, 'CORS_ORIGINS', problems)
  const trustProxyValue = reader.get('TRUST_PROXY')
  const trustProxy = trustProxyValue === undefined ? false : parseTrustProxy(trustProxyValue, 'TRUST_PROXY', problems)
  // Kept as written: URL serialisation could re-encode the password.
  const redisUrl = readUrl(reader, 'REDIS_URL', ['redis:', 'rediss:']) === undefined ? undefined : reader.get('REDIS_URL')

  if (problems.length > 0) throw new ConfigError(problems)
  return {
    port: number('PORT'),
    host: value('HOST'),
    logLevel: value('LOG_LEVEL'),
    upstreams,
    defaultUpstream,
    tokenRefreshAt: number('TOKEN_REFRESH_AT'),
    upstreamTimeoutMs: number('UPSTREAM_TIMEOUT_MS'),
    apiKeys,
    jwt,
    corsOrigins,
    rateLimit: { max: number('RATE_LIMIT_MAX'), windowMs: number('RATE_LIMIT_WINDOW_MS') },
    redisUrl: redisUrl === undefined ? undefined : new Secret(redisUrl),
    trustProxy,
  }
}

/** The variable as a URL with one of the given schemes and no credentials, or undefined (a problem was recorded or it is unset). */
function readUrl (reader: EnvReader, name: EnvName, protocols: readonly string[]): URL | undefined {
  const value = reader.get(name)
  if (value === undefined) return undefined
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (url === undefined || !protocols.includes(url.protocol) || url.hostname === '') {
    reader.problem(name, `must be an absolute ${protocols.join(' or ')} URL with a host`)
    return undefined
  }
  // A Redis URL carries its password here; a token or JWKS URL must not (fetch refuses them).
  if (name !== 'REDIS_URL' && (url.username !== '' || url.password !== '')) {
    reader.problem(name, 'must not contain credentials')
    return undefined
  }
  // Client secrets and signing keys must not cross a network in clear text. Plain http is only
  // for a provider or identity provider on this host (the emulator, a sidecar).
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    reader.problem(name, 'must use https (plain http is allowed only for a loopback host)')
    return undefined
  }
  return url
}

/** localhost, 127.0.0.0/8 or [::1]. */
export function isLoopbackHost (hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

function readUpstreams (reader: EnvReader, number: (name: EnvName) => number): { upstreams: UpstreamConfig[], defaultUpstream: UpstreamId } {
  const upstreams: UpstreamConfig[] = []
  const enabled: UpstreamId[] = []
  let halfSet = false
  for (const spec of UPSTREAM_SPECS) {
    const tokenUrl = readUrl(reader, spec.tokenUrl, ['http:', 'https:'])
    const hasId = reader.has(spec.clientId)
    const hasSecret = reader.has(spec.clientSecret)
    if (hasId !== hasSecret) {
      halfSet = true
      const [missing, present] = hasId ? [spec.clientSecret, spec.clientId] : [spec.clientId, spec.clientSecret]
      reader.problem(missing, `must be set (or ${missing}_FILE) when ${present} is set, to enable the ${spec.id} upstream`)
      continue
    }
    if (!hasId) continue
    enabled.push(spec.id)
    const clientId = reader.get(spec.clientId)
    const clientSecret = reader.get(spec.clientSecret)
    if (tokenUrl === undefined || clientId === undefined || clientSecret === undefined) continue
    upstreams.push({
      id: spec.id,
      tokenUrl,
      clientId,
      clientSecret: new Secret(clientSecret),
      scope: spec.scope === undefined ? undefined : reader.get(spec.scope),
      expiryMarginSeconds: number(spec.margin),
    })
  }
  return { upstreams, defaultUpstream: readDefaultUpstream(reader, enabled, halfSet) }
}

function readDefaultUpstream (reader: EnvReader, enabled: readonly UpstreamId[], halfSet: boolean): UpstreamId {
  const chosen = enabled.find(id => id === reader.get('DEFAULT_UPSTREAM'))
  if (enabled.length === 0) {
    if (!halfSet) {
      reader.problems.push('no upstream enabled: set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET ' +
        'and/or GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET')
    }
  } else if (reader.get('DEFAULT_UPSTREAM') !== undefined && chosen === undefined) {
    reader.problem('DEFAULT_UPSTREAM', `must name an enabled upstream (enabled: ${enabled.join(', ')})`)
  } else if (!reader.has('DEFAULT_UPSTREAM') && enabled.length > 1) {
    reader.problem('DEFAULT_UPSTREAM', `must be set when more than one upstream is enabled (${enabled.join(', ')})`)
  }
  // The only enabled upstream when none was named; 'bandwidth' only alongside a recorded problem.
  return chosen ?? enabled[0] ?? 'bandwidth'
}

function readJwt (reader: EnvReader): JwtAuthConfig | undefined {
  const present = AUTH_NAMES.filter(name => reader.has(name))
  if (present.length === 0) return undefined
  for (const name of AUTH_NAMES) {
    if (!reader.has(name)) {
      reader.problem(name, `must be set when ${present.join(' and ')} ${present.length > 1 ? 'are' : 'is'} set: set all of ${AUTH_NAMES.join(', ')} or none`)
    }
  }
  const jwksUrl = readUrl(reader, 'AUTH_JWKS_URL', ['http:', 'https:'])
  const issuer = reader.get('AUTH_ISSUER')
  const audience = reader.get('AUTH_AUDIENCE')
  return jwksUrl === undefined || issuer === undefined || audience === undefined ? undefined : { jwksUrl, issuer, audience }
}
