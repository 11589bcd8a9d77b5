// Bare Fastify for the start and idle cost rows (bench/startup.ts): a minimal server with one
// GET /healthz route and no logger, run with plain `node` (no TypeScript loader), so its start
// time is Node's and Fastify's alone. Listens on HOST and PORT from the environment.
import Fastify from 'fastify'

const fastify = Fastify({ logger: false })
fastify.get('/healthz', async () => ({ status: 'ok' }))
await fastify.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 0) })
