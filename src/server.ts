// Production entry point, and the only place that listens or handles signals. Loads the config
// from the environment (failing fast with one line per problem), builds the app, listens (and on
// METRICS_PORT, when set). SIGTERM/SIGINT drain within the shutdown budget; SIGHUP re-reads the
// `*_FILE` files at once and forgets the JWKS and every verified JWT, and the service keeps serving.
import { once } from 'node:events'
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import { loadStartup, ConfigError, type Startup } from './config/load-config.js'
import { serverOptions, SHUTDOWN_BUDGET_MS, stdoutLogDestination } from './server-options.js'
import app from './app.js'

function startupOrExit (): Startup {
  try {
    return loadStartup()
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`config error: ${problem}\n`)
      process.exit(1)
    }
    throw err
  }
}

const { config, env, reads } = startupOrExit()
const logs = stdoutLogDestination()
// Whatever ends the process (close-with-grace's exit after a drain or a fatal error), the lines
// still buffered are written first.
process.once('exit', () => { logs.close() })
const fastify = Fastify(serverOptions(config, logs.stream))

// The signal handlers come before the app loads (up to the Redis startup wait), so a signal then
// is never its default action: SIGTERM closes once loading ends, and SIGHUP is ignored until then.
let loaded = false
let stopping = false
closeWithGrace({
  delay: SHUTDOWN_BUDGET_MS,
  // SIGHUP reloads (below); it is not a stop signal here.
  skip: ['SIGHUP'],
  // close-with-grace logs fixed texts ('second SIGTERM, exiting', a timeout), and the error of a
  // shutdown that failed, which goes through the `err` serializer: never its message.
  logger: {
    error: (message: unknown) => {
      if (message instanceof Error) fastify.log.error({ err: message }, 'shutdown failed')
      else fastify.log.error({ detail: String(message) }, 'shutdown')
    }
  },
  // An error: through the `err` serializer, which never logs its message.
  onSecondError: (err: unknown) => { fastify.log.error({ err }, 'second error during shutdown, exiting') }
}, async function shutdown ({ signal, err }) {
  stopping = true
  if (err !== undefined) fastify.log.error({ err }, 'shutting down after an error')
  else fastify.log.info({ signal }, 'shutting down')
  await fastify.close()
})

process.on('SIGHUP', () => {
  if (!loaded) return
  fastify.log.info({ signal: 'SIGHUP' }, 'reloading the *_FILE files and forgetting the JWKS')
  fastify.forgetJwts()
  fastify.reloadConfig().catch((err: unknown) => { fastify.log.error({ err }, 'reload failed') })
})

await fastify.register(app, { config, reload: { env, reads } })
loaded = true

// Stopped while loading: the app is being closed, so it never listens.
if (!stopping) {
  await fastify.listen({ port: config.port, host: config.host })
  const { metricsListener } = fastify
  if (metricsListener !== null) {
    metricsListener.listen(config.metricsPort, config.host)
    await once(metricsListener, 'listening')
    fastify.log.info({ address: metricsListener.address() }, 'metrics listening')
  }
}
