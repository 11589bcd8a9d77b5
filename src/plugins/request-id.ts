// Echoes the request id as `X-Request-Id` on every reply, so a browser developer or operator can
// quote it and find the matching log line. The id is generated here, or taken from a trusted
// proxy (see src/server-options.ts), so it never carries caller-controlled data unchecked.
// Set when the request arrives (a synchronous hook, the cheapest kind): headers already set
// survive into error replies, so refusals carry it too.
import fp from 'fastify-plugin'

export default fp(async function requestId (fastify) {
  fastify.addHook('onRequest', function echoRequestId (request, reply, done) {
    reply.header('x-request-id', request.id)
    done()
  })
}, { name: 'request-id', fastify: '5.x' })
