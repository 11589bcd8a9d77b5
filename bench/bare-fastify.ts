// The ceiling: a bare Fastify hello-world on the project's own fastify version, no logger, no
// plugins. Whatever the service does on top of Fastify can only be slower than this. Spawned by
// bench/run.ts in its own process; reports its port over IPC (see bench/protocol.ts).
import Fastify from 'fastify'
import { statsMessage, type FromChild, type ToChild } from './protocol.js'

const send = (message: FromChild): void => { process.send?.(message) }

const fastify = Fastify({ logger: false })
fastify.get('/', async () => ({ hello: 'world' }))

process.on('message', (message: ToChild) => {
  if (message.type === 'stats') send(statsMessage(0))
  if (message.type === 'stop') {
    fastify.close().then(() => process.exit(0), () => process.exit(1))
  }
})
// The orchestrator went away: do not linger.
process.on('disconnect', () => process.exit(0))

await fastify.listen({ host: '127.0.0.1', port: 0 })
const address = fastify.server.address()
send({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
