// Tracks whether the app is draining, so /readyz turns 503 as soon as shutdown begins while
// in-flight requests still finish. While draining, every reply carries `Connection: close`:
// Node's server.close() closes idle keep-alive sockets only once, at the moment it is called, so a
// socket whose request was in flight then would otherwise hold the server open until keepAliveTimeout.
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: { draining: boolean }
  }
}

export default fp(async function lifecycle (fastify) {
  const state = { draining: false }
  fastify.decorate('lifecycle', state)
  fastify.addHook('preClose', async function markDraining () {
    state.draining = true
  })
  // Synchronous: it runs on every reply, and is a no-op until shutdown begins.
  fastify.addHook('onSend', function closeWhenDraining (_request, reply, payload, done) {
    if (state.draining) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'lifecycle', fastify: '5.x' })
