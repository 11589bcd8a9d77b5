// GET /token/webrtc: the product. An authenticated, rate-limited caller gets a short-lived
// provider access token for the requested (or default) upstream. Replies are never cached.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { UnknownUpstreamError } from '../lib/errors.js'
import { errorReplies } from './schemas.js'

export const TokenReply = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ minimum: 1 }),
  expires_at: Type.String(),
  upstream: Type.String()
}, { additionalProperties: false })

const tokenRoute: FastifyPluginAsyncTypebox = async function tokenRoute (fastify) {
  fastify.get('/token/webrtc', {
    schema: {
      // Credentials are accepted only in headers; any other query parameter is refused.
      querystring: Type.Object({
        upstream: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
      }, { additionalProperties: false }),
      headers: Type.Object({
        'x-api-key': Type.Optional(Type.String()),
        authorization: Type.Optional(Type.String())
      }),
      response: { 200: TokenReply, ...errorReplies(400, 401, 429, 500, 502, 503) }
    },
    onRequest: [
      function noStore (_request, reply, done) {
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
        done()
      },
      fastify.authenticate,
      fastify.callerRateLimit,
      fastify.requireCaller
    ],
    onResponse: fastify.metrics.countTokenRequest
  }, async function issueToken (request) {
    const id = request.query.upstream ?? fastify.tokens.defaultUpstream
    const manager = fastify.tokens.get(id)
    if (manager === undefined) throw new UnknownUpstreamError(fastify.tokens.enabled)
    const token = await manager.getToken()
    return {
      access_token: token.accessToken.reveal(),
      token_type: token.tokenType,
      expires_in: token.expiresIn,
      expires_at: token.expiresAt,
      upstream: token.upstream
    }
  })
}

export default tokenRoute
