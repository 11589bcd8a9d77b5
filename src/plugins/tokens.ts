// One TokenManager per enabled upstream, exposed as `fastify.tokens`. Managers prewarm once the
// app is ready (without holding readiness back) and stop their timers when the app closes.
import fp from 'fastify-plugin'
import { TokenManager, type TokenManagerOptions } from '../token/token-manager.js'
import type { UpstreamId } from '../config/types.js'
import type { Clock, FetchOutcome, UpstreamToken } from '../token/types.js'

export interface TokensPluginOptions {
  clock?: Clock
  fetch?: typeof globalThis.fetch
  random?: () => number
  /** Shared-store seams (see the token manager); per upstream. */
  tokenProvider?: (upstream: UpstreamId) => TokenManagerOptions['tokenProvider']
  onTokenUpdate?: (upstream: UpstreamId, token: UpstreamToken) => void
  onFetch?: (upstream: UpstreamId, outcome: FetchOutcome, durationMs: number) => void
}

export interface TokenRegistry {
  /** Enabled upstream ids, in a stable order. */
  readonly enabled: readonly UpstreamId[]
  readonly defaultUpstream: UpstreamId
  get (id: string): TokenManager | undefined
  all (): TokenManager[]
}

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenRegistry
  }
}

export default fp<TokensPluginOptions>(async function tokens (fastify, opts) {
  const { config } = fastify
  const managers = new Map<string, TokenManager>()
  for (const upstream of config.upstreams) {
    const id = upstream.id
    const { onTokenUpdate, onFetch } = opts
    managers.set(id, new TokenManager({
      upstream,
      refreshAt: config.tokenRefreshAt,
      timeoutMs: config.upstreamTimeoutMs,
      // The manager puts `upstream` in every line itself.
      logger: fastify.log,
      clock: opts.clock,
      fetch: opts.fetch,
      random: opts.random,
      tokenProvider: opts.tokenProvider?.(id),
      onTokenUpdate: onTokenUpdate && ((token: UpstreamToken) => { onTokenUpdate(id, token) }),
      onFetch: onFetch && ((outcome: FetchOutcome, ms: number) => { onFetch(id, outcome, ms) })
    }))
  }

  const registry: TokenRegistry = {
    enabled: [...managers.keys()] as UpstreamId[],
    defaultUpstream: config.defaultUpstream,
    get: (id) => managers.get(id),
    all: () => [...managers.values()]
  }
  fastify.decorate('tokens', registry)

  fastify.addHook('onReady', async function prewarm () {
    for (const manager of managers.values()) manager.prewarm()
  })
  fastify.addHook('onClose', async function stopManagers () {
    for (const manager of managers.values()) manager.close()
  })
}, { name: 'tokens', fastify: '5.x', dependencies: ['config'] })
