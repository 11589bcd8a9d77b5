// Echoes the request id as `X-Request-Id` on every reply, so a browser developer or operator can
// quote it and find the matching log line. The id is generated here, or taken from a trusted
// proxy (see src/server-options.ts), so it never carries caller-controlled data unchecked.
import fp from 'fastify-plugin'

export default fp(async function requestId (fastify) {
  fastify.addHook('onSend', async function echoRequestId (request, reply) {
    reply.header('x-request-id', request.id)
  })
}, { name: 'request-id', fastify: '5.x' })
