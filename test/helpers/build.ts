// build(t): the app on a fresh Fastify instance, configured from an env object through the real
// config loader (re-reading its *_FILE files as production does), with an in-process fake provider
// and captured log lines. Closed on teardown.
import Fastify, { type FastifyInstance } from 'fastify'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import app, { type AppOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config/load-config.js'
import { serverOptions } from '../../src/server-options.js'
import { fakeProvider, FAKE_TOKEN_URLS, type FakeProvider } from './fake-provider.js'

export const API_KEY = 'test-key-0123456789abcdef0123456789abcdef'
export const OTHER_KEY = 'other-key-fedcba9876543210fedcba9876543210'
export const BANDWIDTH_SECRET = 'bw-secret-Sup3r$ecret!'
export const GLOBAL_SECRET = 'gl-secret-An0ther$ecret!'

export const BASE_ENV: Record<string, string> = {
  LOG_LEVEL: 'debug',
  BANDWIDTH_CLIENT_ID: 'bw-client',
  BANDWIDTH_CLIENT_SECRET: BANDWIDTH_SECRET,
  GLOBAL_WEBRTC_CLIENT_ID: 'gl-client',
  GLOBAL_WEBRTC_CLIENT_SECRET: GLOBAL_SECRET,
  DEFAULT_UPSTREAM: 'global',
  API_KEYS: `web:${API_KEY},mobile:${OTHER_KEY}`,
  ...FAKE_TOKEN_URLS
}

export interface BuildOptions {
  env?: Record<string, string | undefined>
  provider?: FakeProvider
  tokens?: AppOptions['tokens']
  auth?: AppOptions['auth']
  /** Redis timings, for apps built with REDIS_URL in `env`. */
  redis?: AppOptions['redis']
  /** Per-user endpoint tokens (BRTC_* in `env`): the Endpoints API's fetch; the clock defaults to `tokens.clock`. */
  brtc?: AppOptions['brtc']
  /** The built browser client to serve at /client/token-client.js. */
  client?: AppOptions['client']
  /** The `*_FILE` reload's clock and settle time (it is always on, with the test's env, as in production). */
  reload?: { clock?: NonNullable<AppOptions['reload']>['clock'], settleMs?: number }
  /** Skip `ready()`, to test startup itself. */
  noReady?: boolean
}

export interface Built {
  app: FastifyInstance
  provider: FakeProvider
  /** Every log line written so far, raw JSON text. */
  logs: string[]
}

export async function build (t: Test, opts: BuildOptions = {}): Promise<Built> {
  const env = { ...BASE_ENV, ...opts.env }
  const config = loadConfig(env)
  const provider = opts.provider ?? fakeProvider()
  const logs: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(line)
      cb()
    }
  })
  const base = serverOptions(config)
  const fastify = Fastify({ ...base, logger: { ...(base.logger as object), stream } })
  await fastify.register(app, {
    config,
    tokens: { fetch: provider.fetch, ...opts.tokens },
    reload: { env, ...opts.reload },
    ...(opts.auth !== undefined && { auth: opts.auth }),
    ...(opts.redis !== undefined && { redis: opts.redis }),
    ...(opts.brtc !== undefined && { brtc: opts.brtc }),
    ...(opts.client !== undefined && { client: opts.client })
  })
  t.teardown(async () => { await fastify.close() })
  if (opts.noReady !== true) await fastify.ready()
  return { app: fastify, provider, logs }
}
