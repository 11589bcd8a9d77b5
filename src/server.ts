// Production entry point, and the only place that listens or handles signals. Loads the config
// from the environment (failing fast with one line per problem), builds the app, listens, and on
// SIGTERM/SIGINT drains within 10 s via close-with-grace.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import { loadConfig, ConfigError } from './config/load-config.js'
import { serverOptions } from './server-options.js'
import app from './app.js'
import type { Config } from './config/types.js'

function configOrExit (): Config {
  try {
    return loadConfig(process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`config error: ${problem}\n`)
      process.exit(1)
    }
    throw err
  }
}

const config = configOrExit()
const fastify = Fastify(serverOptions(config))
await fastify.register(app, { config })

closeWithGrace({ delay: 9000 }, async function shutdown ({ signal, err }) {
  if (err !== undefined) fastify.log.error({ errName: err.name, stack: err.stack }, 'shutting down after an error')
  else fastify.log.info({ signal }, 'shutting down')
  fastify.lifecycle.draining = true
  await fastify.close()
})

await fastify.listen({ port: config.port, host: config.host })
