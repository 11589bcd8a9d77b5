// The OAuth 2.0 token-endpoint rules the emulator enforces, as the providers document them
// (dev.bandwidth.com, "Authentication for Global In-App Calling"): POST, form-urlencoded body
// `grant_type=client_credentials` (+ `scope=voice.webrtc` for Global), client authenticated by
// HTTP Basic over the raw UTF-8 `clientId:clientSecret`. The form is read as RFC 6749 section
// 3.2 says: a parameter without a value counts as omitted, unrecognised ones are ignored, none
// may be repeated. Kept apart from the server so that each rule reads as one small function.
import type { ServerResponse } from 'node:http'
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { TenantConfig } from './types.js'

export const JSON_UTF8 = 'application/json;charset=UTF-8'

/** An OAuth error answer (RFC 6749 section 5.2). */
export interface OAuthError {
  status: number
  error: string
  description: string
}

/** Write a JSON answer with the headers a token endpoint sends on every response. */
export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': JSON_UTF8,
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Content-Length': Buffer.byteLength(payload),
    ...headers
  })
  res.end(payload)
}

export function sendOAuthError (res: ServerResponse, e: OAuthError, realm: string): void {
  // A failed client authentication on the Authorization header must name the scheme (RFC 6749 5.2).
  const headers: Record<string, string> = e.status === 401 ? { 'WWW-Authenticate': `Basic realm="${realm}"` } : {}
  sendJson(res, e.status, { error: e.error, error_description: e.description }, headers)
}

/** `application/x-www-form-urlencoded`, optionally with parameters such as charset. */
export function isFormContentType (contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const mediaType = contentType.split(';', 1)[0] as string
  return mediaType.trim().toLowerCase() === 'application/x-www-form-urlencoded'
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * Check the Authorization header against the tenant's credentials. The credentials are the raw
 * UTF-8 strings joined by a colon, base64 (not form-encoded first): the providers' documented
 * test vectors only match that way. Compared as SHA-256 digests, in constant time.
 */
export function checkClient (authorization: string | undefined, config: TenantConfig): OAuthError | undefined {
  const fail = (description: string): OAuthError => ({ status: 401, error: 'invalid_client', description })
  if (authorization === undefined) return fail('Client authentication required (HTTP Basic)')
  const match = /^Basic +(\S+) *$/i.exec(authorization)
  const encoded = match?.[1]
  if (encoded === undefined) return fail('Unsupported client authentication scheme')
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) return fail('Malformed Basic credentials')
  const presented = createHash('sha256').update(Buffer.from(encoded, 'base64')).digest()
  const matches = (secret: string): boolean =>
    timingSafeEqual(presented, createHash('sha256').update(`${config.clientId}:${secret}`, 'utf8').digest())
  // Both compared, always: which one matched is not told by timing.
  const primary = matches(config.clientSecret)
  const secondary = config.secondarySecret !== undefined && matches(config.secondarySecret)
  if (!primary && !secondary) return fail('Client authentication failed')
  return undefined
}

/** Parse a form body into ordered [name, value] pairs, as sent: repeats and empty values kept. */
export function parseForm (raw: string): Array<[string, string]> {
  return [...new URLSearchParams(raw)]
}

/** The parameters of the token request; the emulator recognises no other. */
const PARAMETERS = new Set(['grant_type', 'scope'])

/**
 * Validate the form fields as RFC 6749 section 3.2 has a token endpoint read them: a parameter
 * sent without a value counts as omitted, unrecognised parameters are ignored, and a recognised
 * one sent twice is refused. Then `grant_type=client_credentials` is required, and `scope` must
 * equal the tenant's required scope when it has one and be absent when it has none.
 */
export function checkForm (fields: Array<[string, string]>, config: TenantConfig): OAuthError | undefined {
  const invalid = (description: string): OAuthError => ({ status: 400, error: 'invalid_request', description })
  const present = fields.filter(([name, value]) => value !== '' && PARAMETERS.has(name))
  const names = present.map(([name]) => name)
  const repeated = names.find((name, i) => names.indexOf(name) !== i)
  if (repeated !== undefined) return invalid(`Parameter repeated: ${repeated}`)
  const form = new Map(present)
  const grant = form.get('grant_type')
  if (grant === undefined) return invalid('Missing grant_type')
  if (grant !== 'client_credentials') {
    return { status: 400, error: 'unsupported_grant_type', description: 'Only client_credentials is supported' }
  }
  const scope = form.get('scope')
  if (scope !== config.requiredScope) {
    const description = config.requiredScope === undefined ? 'No scope is accepted' : `Scope must be ${config.requiredScope}`
    return { status: 400, error: 'invalid_scope', description }
  }
  return undefined
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT-shaped opaque string with these claims: header.payload.signature, base64url, unique per call. */
export function mintJwtShaped (claims: Record<string, unknown>): string {
  const header = b64url({ alg: 'RS256', typ: 'JWT', kid: 'emulator' })
  return `${header}.${b64url(claims)}.${randomBytes(256).toString('base64url')}`
}

/** A JWT-shaped opaque token: header.payload.signature, base64url, unique per call. */
export function mintAccessToken (issuer: string, scope: string | undefined, expiresIn: number): { token: string, id: string } {
  const id = randomUUID()
  const iat = Math.floor(Date.now() / 1000)
  return { token: mintJwtShaped({ iss: issuer, jti: id, iat, exp: iat + expiresIn, scope, emulated: true }), id }
}
