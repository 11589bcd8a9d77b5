// The ceiling: a bare Fastify hello-world on the project's own fastify version, no logger, no
// plugins. Whatever the service does on top of Fastify can only be slower than this. Spawned by
// bench/run.ts in its own process; reports its port over IPC (see bench/protocol.ts).
// GET /replay sends a recorded service reply unchanged (headers and body), once the orchestrator
// has sent one: the cost of the reply's bytes alone, to tell it from the cost of the service's work.
import Fastify from 'fastify'
import { send, statsMessage, type RecordedReply, type ToChild } from './protocol.js'

const fastify = Fastify({ logger: false })
fastify.get('/', async () => ({ hello: 'world' }))

let recorded: RecordedReply | undefined
fastify.get('/replay', async (_request, reply) => {
  if (recorded === undefined) return await reply.code(404).send({ error: 'no reply recorded yet' })
  // A string body with its content-type set is written as it is: no serialisation.
  return await reply.code(recorded.status).headers(recorded.headers).send(recorded.body)
})

process.on('message', (message: ToChild) => {
  if (message.type === 'stats') send(statsMessage(0))
  if (message.type === 'replay') {
    recorded = message.reply
    send({ type: 'replaying' })
  }
  if (message.type === 'stop') {
    fastify.close().then(() => process.exit(0), () => process.exit(1))
  }
})
// The orchestrator went away: do not linger.
process.on('disconnect', () => process.exit(0))

await fastify.listen({ host: '127.0.0.1', port: 0 })
const address = fastify.server.address()
send({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
