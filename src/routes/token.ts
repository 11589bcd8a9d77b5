// GET /token/webrtc: the product. An authenticated, rate-limited caller gets a short-lived
// provider access token for the requested (or default) upstream. Replies are never cached.
// The upstream asked for is resolved once, onto the request, before authentication, so the
// refusals' log lines and metrics name it too.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { Type } from 'typebox'
import { unknownUpstream } from '../lib/errors.js'
import { errorReplies } from './schemas.js'

export const TOKEN_ROUTE = '/token/webrtc'

export const TokenReply = Type.Object({
  access_token: Type.String({ description: 'The provider access token, for `BandwidthUA.setOAuthToken`' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ minimum: 1, description: 'Whole seconds until the caller must stop using the token' }),
  expires_at: Type.String({ format: 'date-time', description: 'That instant, ISO 8601 UTC' }),
  upstream: Type.String({ description: 'The upstream that issued it: bandwidth or global' })
}, { additionalProperties: false })

/** `Cache-Control: no-store` and `Pragma: no-cache`: a credential must never sit in a cache. */
export function noStore (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  done()
}

const tokenRoute: FastifyPluginAsyncTypebox = async function tokenRoute (fastify) {
  const { tokens } = fastify
  fastify.get(TOKEN_ROUTE, {
    schema: {
      summary: 'A short-lived provider access token for the browser',
      // Credentials are accepted only in headers; any other query parameter is refused.
      querystring: Type.Object({
        upstream: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'bandwidth or global; the default upstream when absent' }))
      }, { additionalProperties: false }),
      headers: Type.Object({
        'x-api-key': Type.Optional(Type.String({ description: 'An API key of API_KEYS' })),
        authorization: Type.Optional(Type.String({ description: 'Bearer <JWT> of the app\'s identity provider' }))
      }),
      response: { 200: TokenReply, ...errorReplies(400, 401, 429, 500, 502, 503) }
    },
    onRequest: [
      function tokenRequest (request, reply, done) {
        request.upstream = tokens.resolve(request.query.upstream)
        noStore(request, reply, done)
      },
      fastify.authenticate
    ],
    onResponse (request, reply, done) {
      fastify.metrics.tokenRequest(request.upstream ?? 'unknown', reply.statusCode)
      done()
    }
  }, async function issueToken (request) {
    const manager = tokens.get(request.upstream ?? '')
    if (manager === undefined) throw unknownUpstream(tokens.enabled)
    const token = await manager.getToken()
    request.audit = { ...(token.tokenId !== undefined && { tokenId: token.tokenId }), tokenSha256: token.tokenSha256, expiresAt: token.expiresAt }
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
