// The service under test, in its own process: the real app plugin with the production server
// options (logger and its batched stdout destination, redaction, request ids, timeouts) from a
// config built by loadConfig. The orchestrator (bench/run.ts) sends the environment object over
// IPC, so nothing of the shell's environment is read. The provider emulator and the JWKS live in
// the orchestrator, so a CPU profile of this process (node --cpu-prof) holds the service alone.
import Fastify from 'fastify'
import app from '../src/app.js'
import { loadConfig } from '../src/config/load-config.js'
import { serverOptions, stdoutLogDestination } from '../src/server-options.js'
import { send, startMessage, statsMessage, type ToChild } from './protocol.js'

process.on('disconnect', () => process.exit(0))

const start = await startMessage()
try {
  const config = loadConfig(start.env)
  // Logged as production logs: src/server.ts's batched stdout destination.
  const fastify = Fastify(serverOptions(config, stdoutLogDestination().stream))
  // Only the stampede counts requests: one extra 'request' listener on the Node server, so
  // the orchestrator knows every request has reached the service before the provider answers.
  let received = 0
  if (start.countRequests) fastify.server.on('request', () => { received++ })
  await fastify.register(app, { config })

  process.on('message', (message: ToChild) => {
    if (message.type === 'stats') send(statsMessage(received))
    if (message.type === 'stop') {
      fastify.close().then(() => process.exit(0), () => process.exit(1))
    }
  })

  await fastify.listen({ host: config.host, port: config.port })
  const address = fastify.server.address()
  send({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
} catch (err) {
  // ConfigError lines name variables, never values; anything else is a bench bug.
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) })
  process.exit(1)
}
