// The configuration, as `fastify.config`: the validated Config in force. Routes and plugins read
// settings from it, never from process.env. With `reload` options (the environment the service
// started with, and what its files read then), the files behind the `*_FILE` variables are re-read
// every SECRET_FILES_POLL_SECONDS and on `fastify.reloadConfig()` (SIGHUP): a valid change replaces
// the configuration and is announced on `fastify.configUpdates`, for the plugins that hold
// something built from it; an invalid one changes nothing, logs one error naming the variables, and
// marks them stale for /readyz. `config_reloads_total{outcome}` counts both.
import fp from 'fastify-plugin'
import { EventEmitter } from 'node:events'
import type { ReadFile } from '../config/load-config.js'
import type { SecretFileReads } from '../config/parse-config.js'
import { ConfigReloader, type ReloadResult } from '../config/reloader.js'
import type { FileVariable } from '../config/schema.js'
import type { Config } from '../config/types.js'
import type { Clock } from '../lib/clock.js'
import { logSafeCode } from '../lib/errors.js'

export interface ConfigPluginOptions {
  config: Config
  /** Re-read the `*_FILE` files while running. Without it, the configuration never changes. */
  reload?: {
    /** The environment the service started with (process.env): it names the files. */
    env: Readonly<Record<string, string | undefined>>
    /** What the files read when `config` was parsed; read again at registration when absent. */
    reads?: SecretFileReads
    readFile?: ReadFile
    clock?: Clock
    settleMs?: number
  }
}

export type ConfigState = { state: 'current' } | { state: 'stale', variables: string[] }

declare module 'fastify' {
  interface FastifyInstance {
    /** The configuration in force (a reload replaces it). */
    readonly config: Config
    /** 'updated' (config, changed variables) after each reload that changed something. */
    configUpdates: EventEmitter<{ updated: [Config, FileVariable[]] }>
    /** Re-reads the `*_FILE` files now (SIGHUP; a provider refusing the credentials). */
    reloadConfig: () => Promise<ReloadResult>
    /** For /readyz: whether a changed file was refused, and which. */
    configState: () => ConfigState
  }
}

export default fp<ConfigPluginOptions>(async function configPlugin (fastify, opts) {
  const reloader = opts.reload === undefined
    ? undefined
    : new ConfigReloader({ initial: opts.config, ...opts.reload })
  const updates = new EventEmitter<{ updated: [Config, FileVariable[]] }>()
  fastify.decorate('config', { getter: () => reloader?.config ?? opts.config })
  fastify.decorate('configUpdates', updates)
  fastify.decorate('reloadConfig', async () => await (reloader?.check() ?? Promise.resolve({ outcome: 'unchanged' as const })))
  fastify.decorate('configState', (): ConfigState => {
    const variables = reloader?.stale ?? []
    return variables.length === 0 ? { state: 'current' } : { state: 'stale', variables: [...variables] }
  })
  if (reloader === undefined) return

  const reloads = fastify.metrics.counter('config_reloads_total', 'Reloads of changed *_FILE files, by outcome (success, or failure: the previous values stay in force).', ['outcome'], [{ outcome: 'success' }, { outcome: 'failure' }])
  reloader.on('reloaded', (config, changed) => {
    reloads.inc({ outcome: 'success' })
    const variables = changed.map((name) => `${name}_FILE`)
    fastify.log.info({ variables }, 'configuration reloaded')
    // Each holder applies the change on its own: one that throws must not leave the others, the
    // API keys among them, on the previous values, as `emit` would.
    for (const apply of updates.listeners('updated')) {
      try {
        apply(config, changed)
      } catch (err) {
        fastify.log.error({ variables, errorClass: logSafeCode(err) }, 'applying the reloaded configuration failed in one part of the service; the rest applied it')
      }
    }
  })
  reloader.on('rejected', (problems, variables) => {
    reloads.inc({ outcome: 'failure' })
    // Problems name variables, never values.
    fastify.log.error({ variables, problems }, `changed ${variables.join(', ')} refused; the previous values stay in force`)
  })
  fastify.addHook('onReady', async function pollSecretFiles () {
    reloader.start(opts.config.secretFilesPollSeconds)
  })
  fastify.addHook('onClose', async function stopPolling () {
    reloader.stop()
  })
}, { name: 'config', fastify: '5.x', dependencies: ['metrics'] })
