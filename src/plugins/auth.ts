// Caller authentication, as the onRequest hook `fastify.authenticate`: `X-API-Key` (a constant-time
// match against API_KEYS) or `Authorization: Bearer <JWT>` (verified against AUTH_JWKS_URL).
// There is no anonymous mode: a request without a caller ends here with a 401, or a 429 once its
// address has used up its failed-authentication budget. The order is the defence: the cheap
// refusals first; an address out of budget is refused before its API key is checked or a cached
// JWT accepted (a right guess then looks like a wrong one), and before any signature check or
// JWKS fetch; each failure is counted against the address; an authenticated caller is counted
// against its own budget. `request.caller` carries who it was; `request.authFailure` why not,
// log-safe.
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import type { FetchImplementation, JWTVerifyGetKey } from 'jose'
import { ApiKeyVerifier } from '../auth/api-keys.js'
import { callerOf, readCredentials, type Caller } from '../auth/credentials.js'
import type { JwtVerifier } from '../auth/jwt-verifier.js'
import { unauthorized, type AppError } from '../lib/errors.js'

export interface AuthPluginOptions {
  /** Test seam: a JWKS key getter instead of fetching AUTH_JWKS_URL. */
  jwks?: JWTVerifyGetKey
  /** Test seam: the fetch jose uses to load AUTH_JWKS_URL. */
  customFetch?: FetchImplementation
  /** Test seam: epoch-ms clock for JWT time checks, the verified-JWT cache and the JWKS cool-down. */
  now?: () => number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of every authenticated route: sets `request.caller`, or fails with 401/429. */
    authenticate: (request: FastifyRequest) => Promise<void>
    /** Forgets the fetched JWKS and every verified JWT (SIGHUP: a signing key was withdrawn). */
    forgetJwts: () => void
  }
  interface FastifyRequest {
    caller: Caller | null
    /** Log-safe reason the credentials were refused; never contains the credential. */
    authFailure: string | null
  }
}

export default fp<AuthPluginOptions>(async function auth (fastify, opts) {
  const { apiKeys, jwt } = fastify.config
  const { limits } = fastify
  let keys = apiKeys.length > 0 ? new ApiKeyVerifier(apiKeys) : undefined
  // A changed API_KEYS_FILE applies to the requests that start after it; those in flight finish as they started.
  fastify.configUpdates.on('updated', (config, changed) => {
    if (changed.includes('API_KEYS')) keys = new ApiKeyVerifier(config.apiKeys)
  })
  let jwtVerifier: JwtVerifier | undefined
  // jose is loaded only when JWTs are configured.
  const { createJwtVerifier, JwtVerificationError } = jwt === undefined ? {} : await import('../auth/jwt-verifier.js')
  if (jwt !== undefined && createJwtVerifier !== undefined) {
    jwtVerifier = createJwtVerifier({
      jwksUrl: jwt.jwksUrl,
      issuer: jwt.issuer,
      audience: jwt.audience,
      jwks: opts.jwks,
      customFetch: opts.customFetch,
      now: opts.now,
      logger: fastify.log
    })
  }

  fastify.decorateRequest('caller', null)
  fastify.decorateRequest('authFailure', null)
  fastify.decorate('forgetJwts', () => { jwtVerifier?.reset() })

  /** Throws the 429 of an address out of its failed-authentication budget, if there is one. */
  function overBudget (request: FastifyRequest, refused: AppError | undefined): void {
    if (refused === undefined) return
    request.authFailure = 'address_over_budget'
    throw refused
  }

  /** The caller, or why not (log-safe). Throws the 429 of an address out of budget before JWT work. */
  async function identify (request: FastifyRequest): Promise<Caller | string> {
    const presented = readCredentials(request.headers)
    if (presented.kind === 'refused') return presented.reason
    // The address's refusal comes before any credential is looked at, so a right one (a cached
    // JWT included) gets the same 429 as a wrong one.
    if (presented.kind === 'api_key') {
      if (keys === undefined) return 'api_keys_disabled'
      overBudget(request, limits.refusedAddress(request))
      const name = keys.verify(presented.key)
      return name === undefined ? 'unknown_api_key' : callerOf('api_key', name)
    }
    if (jwtVerifier === undefined) return 'jwt_disabled'
    overBudget(request, limits.refusedAddress(request))
    const hit = jwtVerifier.cached(presented.token)
    if (hit !== undefined) return callerOf('jwt', hit.sub)
    // Before any signature check or JWKS fetch, the budget as every replica has counted it.
    overBudget(request, await limits.checkAddress(request))
    try {
      const { sub } = await jwtVerifier.verify(presented.token)
      return callerOf('jwt', sub)
    } catch (err) {
      if (JwtVerificationError !== undefined && err instanceof JwtVerificationError) return err.reason
      throw err
    }
  }

  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const outcome = await identify(request)
    if (typeof outcome === 'string') {
      request.authFailure = outcome
      // The identity provider being down says nothing about the caller's credential, so it does
      // not spend the address's budget of failures (an office behind one address would be locked
      // out after the outage ends); it gives no key to guess against either.
      if (outcome === 'jwks_unavailable') throw unauthorized()
      throw (await limits.countFailure(request)) ?? unauthorized()
    }
    request.caller = outcome
    const limited = await limits.caller(request, outcome.identity)
    if (limited !== undefined) throw limited
  })
}, { name: 'auth', fastify: '5.x', dependencies: ['config', 'rate-limit'] })
