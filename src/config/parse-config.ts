// Configuration as a pure function: an environment plus the contents of the files its `*_FILE`
// variables name go in; a Config or the list of problems comes out. Startup and every reload of
// the secret files run this same code. Problems name variables and never their values, so they
// can be printed and logged as they are.
import { Value } from 'typebox/value'
import { Secret } from '../lib/secret.js'
import { parseApiKeys } from './parse-api-keys.js'
import { parseCorsOrigins } from './parse-cors-origins.js'
import { parseTrustProxy } from './parse-trust-proxy.js'
import { describeVariable, ENV_NAMES, EnvSchema, FILE_VARIABLES, numericType, type Env, type EnvName, type FileVariable } from './schema.js'
import type { BrtcConfig, Config, JwtAuthConfig, UpstreamConfig, UpstreamId } from './types.js'

/** What reading one `<NAME>_FILE` gave: its text, or a log-safe error code ('' when there is none). */
export type FileRead = { text: string } | { errorCode: string }
export type SecretFileReads = Partial<Record<FileVariable, FileRead>>

export type ConfigResult = { ok: true, config: Config } | { ok: false, problems: string[] }

interface UpstreamSpec {
  id: UpstreamId
  clientId: EnvName
  clientSecret: EnvName
  tokenUrl: EnvName
  scope: EnvName | undefined
  margin: 'BANDWIDTH_EXPIRY_MARGIN_SECONDS' | 'GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS'
}

const UPSTREAM_SPECS: readonly UpstreamSpec[] = [
  { id: 'bandwidth', clientId: 'BANDWIDTH_CLIENT_ID', clientSecret: 'BANDWIDTH_CLIENT_SECRET', tokenUrl: 'BANDWIDTH_TOKEN_URL', scope: undefined, margin: 'BANDWIDTH_EXPIRY_MARGIN_SECONDS' },
  { id: 'global', clientId: 'GLOBAL_WEBRTC_CLIENT_ID', clientSecret: 'GLOBAL_WEBRTC_CLIENT_SECRET', tokenUrl: 'GLOBAL_WEBRTC_TOKEN_URL', scope: 'GLOBAL_WEBRTC_SCOPE', margin: 'GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS' },
]

const AUTH_NAMES = ['AUTH_JWKS_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE'] as const

/** The variables that hold an upstream's client id and secret, to tell an operator what to check. */
export function credentialVariables (id: UpstreamId): [EnvName, EnvName] {
  const spec = UPSTREAM_SPECS.find(s => s.id === id) as UpstreamSpec
  return [spec.clientId, spec.clientSecret]
}

/** Plain decimal digits, and for fractions digits around one point: no sign, blank, exponent or hex. */
const NUMERIC_TEXT = { integer: /^[0-9]{1,16}$/, number: /^[0-9]{0,16}(\.[0-9]{1,16})?$/ }

/** The known variables as the operator set them: values (converted, defaults applied) and where each came from. */
class Variables {
  readonly problems: string[] = []
  readonly #values: Partial<Env> = {}
  /** Set by the operator in either form, even if its value or file is unusable. */
  readonly #set = new Set<EnvName>()
  readonly #files: Partial<Record<FileVariable, string>> = {}

  constructor (env: Readonly<Record<string, string | undefined>>, files: SecretFileReads) {
    const raw: Record<string, unknown> = {}
    const invalid = new Set<EnvName>()
    for (const name of ENV_NAMES) {
      const value = env[name]
      // "" means unset, except where a number is required: there it is a problem.
      if (value === undefined || (value === '' && numericType(name) === undefined)) continue
      this.#set.add(name)
      raw[name] = value
    }
    for (const name of FILE_VARIABLES) this.#readFileForm(name, env, files, raw)
    for (const name of ENV_NAMES) {
      const type = numericType(name)
      if (type !== undefined && typeof raw[name] === 'string' && !NUMERIC_TEXT[type].test(raw[name])) {
        invalid.add(name)
        delete raw[name]
      }
    }
    const converted = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw)) as Record<string, unknown>
    for (const error of Value.Errors(EnvSchema, converted)) invalid.add(error.instancePath.slice(1) as EnvName)
    for (const name of ENV_NAMES) {
      if (invalid.has(name)) this.problem(name, `must be ${describeVariable(name)}`)
      else if (converted[name] !== undefined) Object.assign(this.#values, { [name]: converted[name] })
    }
  }

  #readFileForm (name: FileVariable, env: Readonly<Record<string, string | undefined>>, files: SecretFileReads, raw: Record<string, unknown>): void {
    const fileName = `${name}_FILE`
    const path = env[fileName]
    if (path === undefined || path === '') return
    if (this.#set.has(name)) {
      this.problems.push(`${name} and ${fileName} are both set: set only one`)
      return
    }
    this.#set.add(name)
    this.#files[name] = path
    const read = files[name]
    if (read === undefined || 'errorCode' in read) {
      const code = read === undefined || read.errorCode === '' ? '' : ` (${read.errorCode})`
      this.problems.push(`${fileName}: cannot read the file${code}`)
      return
    }
    const content = read.text.trim()
    if (content === '') this.problems.push(`${fileName}: the file is empty`)
    else raw[name] = content
  }

  /** Whether the operator set the variable, in either form, valid or not. */
  has (name: EnvName): boolean {
    return this.#set.has(name)
  }

  /** The valid value or its default; undefined when unset or invalid (a problem was recorded). */
  get<N extends EnvName> (name: N): Env[N] {
    return this.#values[name] as Env[N]
  }

  /** The `*_FILE` paths in use. */
  get files (): Partial<Record<FileVariable, string>> {
    return { ...this.#files }
  }

  /** The variable as the operator set it: `NAME`, or `NAME (read from NAME_FILE)`. */
  label (name: EnvName): string {
    return name in this.#files ? `${name} (read from ${name}_FILE)` : name
  }

  /** Records a problem about a variable. `text` must never contain the value. */
  problem (name: EnvName, text: string): void {
    this.problems.push(`${this.label(name)}: ${text}`)
  }
}

/** The Config, or every problem with it. Pure: no I/O, no clock, no process state. */
export function parseConfig (env: Readonly<Record<string, string | undefined>>, files: SecretFileReads = {}): ConfigResult {
  const vars = new Variables(env, files)
  const { problems } = vars
  const { upstreams, defaultUpstream } = readUpstreams(vars)
  const jwt = readJwt(vars)
  const apiKeysValue = vars.get('API_KEYS')
  const apiKeys = apiKeysValue === undefined ? [] : parseApiKeys(apiKeysValue, vars.label('API_KEYS'), problems)
  if (!vars.has('API_KEYS') && !AUTH_NAMES.some(name => vars.has(name))) {
    problems.push('no authentication method configured: set API_KEYS and/or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE')
  }
  const corsValue = vars.get('CORS_ORIGINS')
  const corsOrigins = corsValue === undefined ? [] : parseCorsOrigins(corsValue, 'CORS_ORIGINS', problems)
  const trustProxyValue = vars.get('TRUST_PROXY')
  const trustProxy = trustProxyValue === undefined ? false : parseTrustProxy(trustProxyValue, 'TRUST_PROXY', problems)
  // Kept as written: URL serialisation could re-encode the password.
  const redisUrl = readRedisUrl(vars) === undefined ? undefined : vars.get('REDIS_URL')
  const metricsPort = vars.get('METRICS_PORT')
  if (metricsPort !== undefined && metricsPort === vars.get('PORT')) vars.problem('METRICS_PORT', 'must differ from PORT')
  const brtc = readBrtc(vars, upstreams)

  if (problems.length > 0) return { ok: false, problems }
  const value = <N extends EnvName>(name: N): NonNullable<Env[N]> => vars.get(name) as NonNullable<Env[N]>
  return {
    ok: true,
    config: {
      port: value('PORT'),
      host: value('HOST'),
      logLevel: value('LOG_LEVEL'),
      upstreams,
      defaultUpstream,
      tokenUpstreams: upstreams.map(u => u.id).filter(id => brtc === undefined || id !== 'bandwidth'),
      tokenRefreshAt: value('TOKEN_REFRESH_AT'),
      upstreamTimeoutMs: value('UPSTREAM_TIMEOUT_MS'),
      apiKeys,
      jwt,
      corsOrigins,
      rateLimit: { max: value('RATE_LIMIT_MAX'), windowMs: value('RATE_LIMIT_WINDOW_MS') },
      redisUrl: redisUrl === undefined ? undefined : new Secret(redisUrl),
      trustProxy,
      metricsPort,
      brtc,
      secretFiles: vars.files,
      secretFilesPollSeconds: value('SECRET_FILES_POLL_SECONDS'),
    },
  }
}

/** The variable as a URL with one of the given schemes and no credentials, or undefined (a problem was recorded or it is unset). */
function readUrl (vars: Variables, name: EnvName, protocols: readonly string[]): URL | undefined {
  const value = vars.get(name)
  if (typeof value !== 'string') return undefined
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (url === undefined || !protocols.includes(url.protocol) || url.hostname === '') {
    vars.problem(name, `must be an absolute ${protocols.join(' or ')} URL with a host`)
    return undefined
  }
  // A Redis URL carries its password here; a token, JWKS or API URL must not (fetch refuses them).
  if (name !== 'REDIS_URL' && (url.username !== '' || url.password !== '')) {
    vars.problem(name, 'must not contain credentials')
    return undefined
  }
  // Client secrets, tokens and signing keys must not cross a network in clear text. Plain http is
  // only for a provider or identity provider on this host (the emulator, a sidecar).
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    vars.problem(name, 'must use https (plain http is allowed only for a loopback host)')
    return undefined
  }
  return url
}

/**
 * REDIS_URL as ioredis reads it: the user name and password percent-decoded (a stray `%` would
 * make the client throw when built, at startup or on a reload), and a path that is a database
 * number or nothing.
 */
function readRedisUrl (vars: Variables): URL | undefined {
  const url = readUrl(vars, 'REDIS_URL', ['redis:', 'rediss:'])
  if (url === undefined) return undefined
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    vars.problem('REDIS_URL', 'has a user name or password that is not valid percent-encoding (write % as %25)')
    return undefined
  }
  if (!/^\/?(?:[0-9]{1,5})?$/.test(url.pathname)) {
    vars.problem('REDIS_URL', 'has a path that is not a database number')
    return undefined
  }
  return url
}

/** localhost, 127.0.0.0/8 or [::1]. */
export function isLoopbackHost (hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

function readUpstreams (vars: Variables): { upstreams: UpstreamConfig[], defaultUpstream: UpstreamId } {
  const upstreams: UpstreamConfig[] = []
  const enabled: UpstreamId[] = []
  let halfSet = false
  for (const spec of UPSTREAM_SPECS) {
    const tokenUrl = readUrl(vars, spec.tokenUrl, ['http:', 'https:'])
    const hasId = vars.has(spec.clientId)
    const hasSecret = vars.has(spec.clientSecret)
    if (hasId !== hasSecret) {
      halfSet = true
      const [missing, present] = hasId ? [spec.clientSecret, spec.clientId] : [spec.clientId, spec.clientSecret]
      vars.problem(missing, `must be set (or ${missing}_FILE) when ${present} is set, to enable the ${spec.id} upstream`)
      continue
    }
    if (!hasId) continue
    enabled.push(spec.id)
    const clientId = vars.get(spec.clientId)
    const clientSecret = vars.get(spec.clientSecret)
    const margin = vars.get(spec.margin)
    if (tokenUrl === undefined || typeof clientId !== 'string' || typeof clientSecret !== 'string' || margin === undefined) continue
    upstreams.push({
      id: spec.id,
      tokenUrl,
      clientId,
      clientSecret: new Secret(clientSecret),
      scope: spec.scope === undefined ? undefined : vars.get(spec.scope) as string,
      expiryMarginSeconds: margin,
    })
  }
  return { upstreams, defaultUpstream: readDefaultUpstream(vars, enabled, halfSet) }
}

function readDefaultUpstream (vars: Variables, enabled: readonly UpstreamId[], halfSet: boolean): UpstreamId {
  const named = vars.get('DEFAULT_UPSTREAM')
  const chosen = enabled.find(id => id === named)
  if (enabled.length === 0) {
    if (!halfSet) {
      vars.problems.push('no upstream enabled: set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET ' +
        'and/or GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET')
    }
  } else if (named !== undefined && chosen === undefined) {
    vars.problem('DEFAULT_UPSTREAM', `must name an enabled upstream (enabled: ${enabled.join(', ')})`)
  } else if (!vars.has('DEFAULT_UPSTREAM') && enabled.length > 1) {
    vars.problem('DEFAULT_UPSTREAM', `must be set when more than one upstream is enabled (${enabled.join(', ')})`)
  }
  // The only enabled upstream when none was named; 'bandwidth' only alongside a recorded problem.
  return chosen ?? enabled[0] ?? 'bandwidth'
}

function readJwt (vars: Variables): JwtAuthConfig | undefined {
  const present = AUTH_NAMES.filter(name => vars.has(name))
  if (present.length === 0) return undefined
  for (const name of AUTH_NAMES) {
    if (!vars.has(name)) {
      vars.problem(name, `must be set when ${present.join(' and ')} ${present.length > 1 ? 'are' : 'is'} set: set all of ${AUTH_NAMES.join(', ')} or none`)
    }
  }
  const jwksUrl = readUrl(vars, 'AUTH_JWKS_URL', ['http:', 'https:'])
  const issuer = vars.get('AUTH_ISSUER')
  const audience = vars.get('AUTH_AUDIENCE')
  return jwksUrl === undefined || issuer === undefined || audience === undefined ? undefined : { jwksUrl, issuer, audience }
}

function readBrtc (vars: Variables, upstreams: readonly UpstreamConfig[]): BrtcConfig | undefined {
  const apiUrl = readUrl(vars, 'BRTC_API_URL', ['http:', 'https:'])
  const eventCallbackUrl = readUrl(vars, 'BRTC_EVENT_CALLBACK_URL', ['https:'])
  const accountId = vars.get('BRTC_ACCOUNT_ID')
  if (!vars.has('BRTC_ACCOUNT_ID')) return undefined
  if (!upstreams.some(u => u.id === 'bandwidth') && !vars.has('BANDWIDTH_CLIENT_ID')) {
    vars.problem('BRTC_ACCOUNT_ID', 'requires the bandwidth upstream, whose token authorises the Endpoints API: set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET')
  }
  // In this mode the bandwidth token is account-wide and never handed out, so it cannot be the
  // default of /token/webrtc.
  if (vars.get('DEFAULT_UPSTREAM') === 'bandwidth') {
    vars.problem('DEFAULT_UPSTREAM', 'must not be bandwidth when BRTC_ACCOUNT_ID is set: the bandwidth token is account-wide and stays on the server (name global, or use /endpoints/webrtc)')
  }
  const max = vars.get('BRTC_MAX_ENDPOINTS_PER_CALLER')
  const sweep = vars.get('BRTC_SWEEP_INTERVAL_SECONDS')
  if (accountId === undefined || apiUrl === undefined || max === undefined || sweep === undefined) return undefined
  if (vars.has('BRTC_EVENT_CALLBACK_URL') && eventCallbackUrl === undefined) return undefined
  return {
    accountId,
    apiUrl: new URL(apiUrl.href.replace(/\/+$/, '')),
    eventCallbackUrl,
    maxEndpointsPerCaller: max,
    sweepIntervalSeconds: sweep,
  }
}
