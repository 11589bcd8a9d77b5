// Test identity provider: generates signing key pairs with jose, publishes their public halves
// as a JWKS (over real HTTP on 127.0.0.1, and as an in-process fetch function), and signs JWTs
// with sensible default claims. Reusable by any test that needs Bearer tokens:
//
//   const idp = await createTestJwks()                       // RS256 key, kid 'key-1'
//   t.teardown(() => idp.close())
//   // point AUTH_JWKS_URL / AUTH_ISSUER / AUTH_AUDIENCE at idp.jwksUrl / idp.issuer / idp.audience
//   const jwt = await idp.sign({ sub: 'alice' })             // valid for 300 s
//   const expired = await idp.sign({ exp: nowSeconds - 60 }) // override any claim
//   const noExp = await idp.sign({ exp: undefined })         // undefined removes a default claim
//   const kid = await idp.rotate()                           // new key published, signs from now on
//   idp.setAvailable(false)                                  // JWKS answers 503
//   idp.fetchCount                                           // JWKS requests served so far
//
// And the verifier side: verifierFor(idp) (src/auth/jwt-verifier.ts configured for this IdP, on
// its clock, fetching the JWKS without a socket unless told `customFetch: undefined`), and
// reasonOf(promise), the reason a verification was refused with.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, FetchImplementation, JWK, JWTPayload } from 'jose'
import { createJwtVerifier, JwtVerificationError, type JwtVerifier, type JwtVerifierOptions } from '../../src/auth/jwt-verifier.js'

export type TestKeyAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

export interface TestJwksOptions {
  /** Algorithm of the first key. Default RS256. */
  alg?: TestKeyAlg
  /** Default `iss`. Default 'https://idp.test/'. */
  issuer?: string
  /** Default `aud`. Default 'webrtc-token-service'. */
  audience?: string
  /** Default `sub`. Default 'user-1'. */
  subject?: string
  /** Default lifetime (`exp` − `iat`), seconds. Default 300. */
  ttlSeconds?: number
  /** Epoch ms used for the default `iat`/`exp`. Default Date.now. Pass the verifier's clock. */
  now?: () => number
}

export interface TestSignOptions {
  /** Which helper-made key signs. Default the current key (the last one rotated in). */
  kid?: string
  /** Protected-header fields merged over `{ alg, kid, typ: 'JWT' }`, e.g. `{ kid: 'forged' }`. */
  header?: Record<string, unknown>
}

export interface TestJwks {
  /** `http://127.0.0.1:<port>/.well-known/jwks.json`, served until close(). */
  readonly jwksUrl: URL
  readonly issuer: string
  readonly audience: string
  /** The clock (epoch ms) the default `iat`/`exp` are computed from. */
  readonly now: () => number
  /** The same JWKS without a socket; fits jose's `customFetch` (and the verifier's option). */
  readonly fetch: FetchImplementation
  /** JWKS requests answered so far, over HTTP and through `fetch` together. */
  readonly fetchCount: number
  /** kid of the key that signs by default. */
  readonly currentKid: string
  /** Signs `{ iss, aud, sub, iat, exp }` merged with `claims`; an `undefined` claim is left out. */
  sign (claims?: JWTPayload, opts?: TestSignOptions): Promise<string>
  /** Makes a new key pair (kid 'key-<n>'); published in the JWKS unless `publish: false`. */
  addKey (opts?: { alg?: TestKeyAlg, publish?: boolean }): Promise<string>
  /** addKey + make it the default signer; `retireOld: true` also unpublishes every older key. */
  rotate (opts?: { alg?: TestKeyAlg, retireOld?: boolean }): Promise<string>
  /** Removes a key from the JWKS (it can still sign, e.g. to test revocation). */
  unpublish (kid: string): void
  /** SPKI PEM of a key's public half (default: current key). */
  publicKeyPem (kid?: string): Promise<string>
  /** false: every JWKS request is answered 503, as if the IdP were down. */
  setAvailable (available: boolean): void
  /** Stops the HTTP server and drops its connections. Idempotent. */
  close (): Promise<void>
}

interface TestKey { kid: string, alg: TestKeyAlg, privateKey: CryptoKey, publicKey: CryptoKey, publicJwk: JWK, published: boolean }

export async function createTestJwks (options: TestJwksOptions = {}): Promise<TestJwks> {
  const issuer = options.issuer ?? 'https://idp.test/'
  const audience = options.audience ?? 'webrtc-token-service'
  const subject = options.subject ?? 'user-1'
  const ttlSeconds = options.ttlSeconds ?? 300
  const now = options.now ?? Date.now
  const keys = new Map<string, TestKey>()
  let currentKid = ''
  let fetchCount = 0
  let available = true

  const addKey = async ({ alg = options.alg ?? 'RS256', publish = true }: { alg?: TestKeyAlg, publish?: boolean } = {}): Promise<string> => {
    const kid = `key-${keys.size + 1}`
    const { publicKey, privateKey } = await generateKeyPair(alg)
    const publicJwk = { ...await exportJWK(publicKey), kid, alg, use: 'sig' }
    keys.set(kid, { kid, alg, privateKey, publicKey, publicJwk, published: publish })
    return kid
  }
  const keyFor = (kid: string): TestKey => {
    const key = keys.get(kid)
    if (key === undefined) throw new Error(`test JWKS has no key ${kid}`)
    return key
  }
  const jwksBody = (): string => JSON.stringify({ keys: [...keys.values()].filter(k => k.published).map(k => k.publicJwk) })
  const answer = (): { status: number, body: string } => {
    fetchCount++
    return available ? { status: 200, body: jwksBody() } : { status: 503, body: 'unavailable' }
  }

  const server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404, { connection: 'close' }).end()
      return
    }
    const { status, body } = answer()
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(body)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  let closed = false

  currentKid = await addKey()

  return {
    jwksUrl: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`),
    issuer,
    audience,
    now,
    fetch: async () => {
      const { status, body } = answer()
      return new Response(body, { status, headers: { 'content-type': 'application/json' } })
    },
    get fetchCount () { return fetchCount },
    get currentKid () { return currentKid },
    async sign (claims = {}, opts = {}) {
      const key = keyFor(opts.kid ?? currentKid)
      const iat = Math.floor(now() / 1000)
      const payload = { iss: issuer, aud: audience, sub: subject, iat, exp: iat + ttlSeconds, ...claims }
      return await new SignJWT(payload)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...opts.header })
        .sign(key.privateKey)
    },
    addKey,
    async rotate ({ alg, retireOld = false } = {}) {
      const kid = await addKey({ alg })
      if (retireOld) for (const key of keys.values()) key.published = key.kid === kid
      currentKid = kid
      return kid
    },
    unpublish (kid) { keyFor(kid).published = false },
    async publicKeyPem (kid = currentKid) {
      return await exportSPKI(keyFor(kid).publicKey)
    },
    setAvailable (value) { available = value },
    async close () {
      if (closed) return
      closed = true
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}

/**
 * A verifier for this IdP (its JWKS URL, issuer and audience) on the IdP's clock, fetching the
 * JWKS through `idp.fetch`; `opts` override any of it (`customFetch: undefined`: over real HTTP).
 */
export function verifierFor (idp: TestJwks, opts: Partial<JwtVerifierOptions> = {}): JwtVerifier {
  return createJwtVerifier({ jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience, now: idp.now, customFetch: idp.fetch, ...opts })
}

/** The reason a verification was refused with; undefined if it passed, and a description of anything else it threw. */
export async function reasonOf (p: Promise<unknown>): Promise<string | undefined> {
  return await p.then(() => undefined, (e: unknown) => (e instanceof JwtVerificationError ? e.reason : `not a JwtVerificationError: ${String(e)}`))
}
