// One TokenManager per enabled upstream, as `fastify.tokens`, each on its source chain: the
// provider, wrapped by the Redis shared cache when REDIS_URL is set (loaded only then). Provider
// requests feed the metrics, and the expiry of each held token is a gauge. Reloaded credentials
// end a back-off after the old ones were rejected. Managers prewarm once the app is ready
// (without holding readiness back), and in preClose abort what they wait on, so a caller waiting
// on a hung provider during shutdown gets its 503 at once.
//
// Library users can plug in the seed hooks: `tokenProvider(lastToken, fetchFresh)` wraps the
// chain, and `onTokenUpdate` listens to every new token.
import fp from 'fastify-plugin'
import { credentialVariables } from '../config/parse-config.js'
import type { UpstreamConfig, UpstreamId } from '../config/types.js'
import type { Clock } from '../lib/clock.js'
import { TokenManager } from '../token/manager.js'
import { ProviderSource } from '../token/sources/provider.js'
import type { TokenSource, UpstreamToken } from '../token/types.js'

/** The seed hook: replaces the request to the provider; `fetchFresh` performs the real one. */
export type TokenProvider = (lastToken: UpstreamToken | undefined, fetchFresh: () => Promise<UpstreamToken>) => Promise<UpstreamToken>

export interface TokensPluginOptions {
  clock?: Clock
  fetch?: typeof globalThis.fetch
  random?: () => number
  /** Delay between looks at Redis while another replica fetches. */
  redisPollMs?: number
  tokenProvider?: (upstream: UpstreamId) => TokenProvider | undefined
  onTokenUpdate?: (upstream: UpstreamId, token: UpstreamToken) => void
}

export interface TokenRegistry {
  /** The upstreams `/token/webrtc` hands out (config.tokenUpstreams), in a stable order. */
  readonly served: readonly UpstreamId[]
  get (id: string): TokenManager | undefined
  all (): TokenManager[]
  /**
   * The upstream a `/token/webrtc` request asks for: a served id, the default when absent (if
   * it is served), else 'unknown'. Every enabled upstream has a manager; in the per-user
   * endpoint tokens mode `bandwidth`'s serves only the Endpoints API calls.
   */
  resolve (asked: unknown): string
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenRegistry
  }
  interface FastifyRequest {
    /** The upstream the request asked for (see TokenRegistry.resolve), set by the routes that serve tokens. */
    upstream: string | null
  }
}

export default fp<TokensPluginOptions>(async function tokens (fastify, opts) {
  const { config } = fastify
  const managers = new Map<UpstreamId, TokenManager>()
  const SharedSource = fastify.redis === null ? undefined : (await import('../token/sources/shared.js')).SharedSource
  for (const { id, expiryMarginSeconds } of config.upstreams) {
    fastify.metrics.addUpstream(id)
    // Read at each request, so a reload's new credentials apply from the next provider request.
    const upstream = (): UpstreamConfig => fastify.config.upstreams.find((u) => u.id === id) as UpstreamConfig
    const variables: readonly string[] = credentialVariables(id)
    const provider = new ProviderSource({
      upstream,
      timeoutMs: config.upstreamTimeoutMs,
      fetch: opts.fetch,
      clock: opts.clock,
      recheckCredentials: fastify.reloadConfig
    })
    provider.on('fetched', (outcome, durationMs) => { fastify.metrics.upstreamFetch(id, outcome, durationMs) })
    let source: TokenSource = provider
    if (SharedSource !== undefined && fastify.redis !== null) {
      source = new SharedSource({ inner: source, redis: fastify.redis, upstream, timeoutMs: config.upstreamTimeoutMs, clock: opts.clock, logger: fastify.log, pollMs: opts.redisPollMs })
    }
    const custom = opts.tokenProvider?.(id)
    if (custom !== undefined) source = customSource(custom, source)
    const manager = new TokenManager({
      id,
      source,
      marginSeconds: expiryMarginSeconds,
      refreshAt: config.tokenRefreshAt,
      clock: opts.clock,
      random: opts.random,
      logger: fastify.log,
      credentialsHint: variables.join(' and ')
    })
    fastify.configUpdates.on('updated', (_config, changed) => {
      if (changed.some((name) => variables.includes(name))) manager.credentialsChanged()
    })
    const { onTokenUpdate } = opts
    if (onTokenUpdate !== undefined) manager.on('updated', (token) => { onTokenUpdate(id, token) })
    managers.set(id, manager)
  }

  const served: readonly string[] = config.tokenUpstreams
  fastify.decorate('tokens', {
    served: config.tokenUpstreams,
    get: (id) => managers.get(id as UpstreamId),
    all: () => [...managers.values()],
    resolve (asked) {
      const id = asked === undefined ? config.defaultUpstream : asked
      return typeof id === 'string' && served.includes(id) ? id : 'unknown'
    }
  } satisfies TokenRegistry)
  fastify.decorateRequest('upstream', null)

  fastify.metrics.gauge('upstream_token_expiry_seconds',
    'Seconds the cached token of each upstream can still be handed out (before its expiry margin); 0 when none.',
    ['upstream'], (set) => { for (const manager of managers.values()) set(manager.state().secondsLeft, { upstream: manager.id }) })

  fastify.addHook('onReady', async function prewarm () {
    for (const manager of managers.values()) manager.prewarm()
  })
  fastify.addHook('preClose', async function stopManagers () {
    for (const manager of managers.values()) manager.close()
  })
}, { name: 'tokens', fastify: '5.x', dependencies: ['config', 'metrics', 'redis'] })

/** The seed hook as the outermost link of a chain. */
function customSource (provide: TokenProvider, inner: TokenSource): TokenSource {
  return { fetch: async (last, signal) => await provide(last, async () => await inner.fetch(last, signal)) }
}
