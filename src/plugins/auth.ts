// Caller authentication for /token/webrtc: `X-API-Key` (constant-time match against API_KEYS)
// or `Authorization: Bearer <JWT>` (verified against AUTH_JWKS_URL). There is no anonymous mode.
// `authenticate` only records the outcome, so the rate limiter can count failed attempts per IP
// before `requireCaller` turns a failure into a 401.
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { FetchImplementation, JWTVerifyGetKey } from 'jose'
import { ApiKeyVerifier } from '../auth/api-keys.js'
import { createJwtVerifier, type JwtVerificationError, type JwtVerifier } from '../auth/jwt-verifier.js'
import { UnauthorizedError } from '../lib/errors.js'

export interface Caller {
  /** Identity: the API key's name or the JWT's `sub`. Safe to log. */
  name: string
  method: 'api_key' | 'jwt'
}

export interface AuthPluginOptions {
  /** Test seam: a JWKS key getter instead of fetching AUTH_JWKS_URL. */
  jwks?: JWTVerifyGetKey
  /** Test seam: the fetch jose uses to load AUTH_JWKS_URL. */
  customFetch?: FetchImplementation
  /** Test seam: epoch-ms clock for JWT time checks and the verified-JWT cache. */
  now?: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: records `request.caller` or `request.authFailure`; never fails. */
    authenticate: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
    /** onRequest hook: fails with a 401 unless `authenticate` found a caller. */
    requireCaller: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
  }
  interface FastifyRequest {
    caller: Caller | null
    /** Log-safe reason the credentials were refused; never contains the credential. */
    authFailure: string | null
  }
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i

export default fp<AuthPluginOptions>(async function auth (fastify, opts) {
  const { apiKeys, jwt } = fastify.config
  const keys = apiKeys.length > 0 ? new ApiKeyVerifier(apiKeys) : undefined
  let jwtVerifier: JwtVerifier | undefined
  if (jwt !== undefined) {
    jwtVerifier = createJwtVerifier({
      jwksUrl: jwt.jwksUrl,
      issuer: jwt.issuer,
      audience: jwt.audience,
      jwks: opts.jwks,
      customFetch: opts.customFetch,
      now: opts.now
    })
  }

  fastify.decorateRequest('caller', null)
  fastify.decorateRequest('authFailure', null)

  /**
   * The caller, or a log-safe failure reason. Synchronous for API keys and for every refusal
   * that needs no crypto; a promise only while a JWT is being verified.
   */
  function identify (request: FastifyRequest): Caller | string | Promise<Caller | string> {
    const apiKey = request.headers['x-api-key']
    const authorization = request.headers.authorization
    if (apiKey !== undefined && authorization !== undefined) return 'ambiguous_credentials'
    if (apiKey !== undefined) {
      if (keys === undefined) return 'api_keys_disabled'
      // Node joins repeated X-API-Key headers into one string, so this is always a single value.
      const name = keys.verify(String(apiKey))
      return name === undefined ? 'unknown_api_key' : { name, method: 'api_key' }
    }
    if (authorization === undefined) return 'missing_credentials'
    const match = BEARER.exec(authorization)
    if (match === null) return 'malformed_authorization'
    if (jwtVerifier === undefined) return 'jwt_disabled'
    return jwtVerifier.verify(match[1] as string).then(
      ({ sub }): Caller => ({ name: sub, method: 'jwt' }),
      (err: unknown) => {
        const { reason } = err as JwtVerificationError
        if (reason === 'jwks_unavailable') request.log.warn({ reason }, 'cannot verify JWT: JWKS unavailable')
        return reason
      })
  }

  function record (request: FastifyRequest, outcome: Caller | string): void {
    if (typeof outcome === 'string') {
      request.authFailure = outcome
      // The request's own log line carries `authFailure`; this one is for debugging, so that a
      // flood of bad credentials costs one log line per request, not two.
      request.log.debug({ reason: outcome }, 'authentication failed')
    } else {
      request.caller = outcome
    }
  }

  // Callback-style hooks (hot path): no promise per request unless a JWT is being verified.
  fastify.decorate('authenticate', function authenticate (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const outcome = identify(request)
    if (outcome instanceof Promise) {
      outcome.then((result) => { record(request, result); done() }, done)
    } else {
      record(request, outcome)
      done()
    }
  })

  fastify.decorate('requireCaller', function requireCaller (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    done(request.caller === null ? new UnauthorizedError() : undefined)
  })
}, { name: 'auth', fastify: '5.x', dependencies: ['config'] })
