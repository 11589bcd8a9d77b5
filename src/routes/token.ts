// GET /token/webrtc: the product. An authenticated, rate-limited caller gets a short-lived
// provider access token for the requested (or default) upstream. Replies are never cached.
// The upstream asked for is resolved once, onto the request, before authentication, so the
// refusals' log lines and metrics name it too.
//
// The hot path: while a token is held, the manager hands every caller the same IssuedToken
// object until expires_in changes (once a second), so its reply is serialised by the route's
// schema and encoded once per token and second, not once per request, and a held token is sent
// without a promise.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { IssuedToken } from '../token/types.js'
import { Type } from 'typebox'
import { unknownUpstream } from '../lib/errors.js'
import { CALLER_SECURITY, errorReplies } from './schemas.js'

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

/** What a served token's request gets, computed once per IssuedToken. */
interface Served { body: Buffer, audit: Record<string, string> }

const tokenRoute: FastifyPluginAsyncTypebox = async function tokenRoute (fastify) {
  const { tokens } = fastify
  const served = new WeakMap<IssuedToken, Served>()

  function send (request: FastifyRequest, reply: FastifyReply, token: IssuedToken): void {
    let out = served.get(token)
    if (out === undefined) {
      out = {
        // The route's own serializer (its 200 schema): the reply is exactly what it would send,
        // encoded once, so no request measures or converts it again.
        body: Buffer.from(String(reply.serialize({
          access_token: token.accessToken.reveal(),
          token_type: token.tokenType,
          expires_in: token.expiresIn,
          expires_at: token.expiresAt,
          upstream: token.upstream
        }))),
        audit: { ...(token.tokenId !== undefined && { tokenId: token.tokenId }), tokenSha256: token.tokenSha256, expiresAt: token.expiresAt }
      }
      served.set(token, out)
    }
    request.audit = out.audit
    reply.type('application/json; charset=utf-8').send(out.body)
  }

  fastify.get(TOKEN_ROUTE, {
    // A HEAD would be authenticated, counted and audited as a token handed out, and send none.
    exposeHeadRoute: false,
    schema: {
      summary: 'A short-lived provider access token for the browser',
      // Credentials are accepted only in headers; any other query parameter is refused.
      querystring: Type.Object({
        // Any other string (empty, long) is an unknown upstream: 400 UNKNOWN_UPSTREAM, which lists the enabled ones.
        upstream: Type.Optional(Type.String({ description: 'bandwidth or global; the default upstream when absent' }))
      }, { additionalProperties: false }),
      security: CALLER_SECURITY,
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
  }, function issueToken (request, reply) {
    const manager = tokens.get(request.upstream ?? '')
    if (manager === undefined) throw unknownUpstream(tokens.served)
    const held = manager.peek()
    // Typed loosely: the body is the 200 schema's serialisation, sent as the bytes it already is.
    const raw = reply as unknown as FastifyReply
    if (held !== undefined) {
      send(request, raw, held)
      return
    }
    return manager.getToken().then((token) => { send(request, raw, token) })
  })
}

export default tokenRoute
