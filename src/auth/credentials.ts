// What a request presents as credentials, read from its headers only (never the query string):
// `X-API-Key: <key>` or `Authorization: Bearer <JWT>`, exactly one of them. The auth plugin
// verifies what this finds; a refusal here needs no crypto and says why in a log-safe word.

/** An authenticated caller: the API key's name or the JWT's `sub`, and how it authenticated. */
export interface Caller {
  /** Safe to log. */
  readonly name: string
  readonly method: 'api_key' | 'jwt'
  /**
   * `<method>:<name>`, so API-key and JWT callers never share one: what the per-caller rate
   * limit counts and endpoint tags are computed from.
   */
  readonly identity: string
}

export function callerOf (method: Caller['method'], name: string): Caller {
  return { name, method, identity: `${method}:${name}` }
}

export type Presented =
  | { kind: 'api_key', key: string }
  | { kind: 'jwt', token: string }
  | { kind: 'refused', reason: 'ambiguous_credentials' | 'missing_credentials' | 'malformed_authorization' }

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i

export function readCredentials (headers: { 'x-api-key'?: string | string[], authorization?: string }): Presented {
  const apiKey = headers['x-api-key']
  const authorization = headers.authorization
  if (apiKey !== undefined && authorization !== undefined) return { kind: 'refused', reason: 'ambiguous_credentials' }
  // Node joins repeated X-API-Key headers into one string; String() keeps the type honest.
  if (apiKey !== undefined) return { kind: 'api_key', key: String(apiKey) }
  if (authorization === undefined) return { kind: 'refused', reason: 'missing_credentials' }
  const match = BEARER.exec(authorization)
  return match === null ? { kind: 'refused', reason: 'malformed_authorization' } : { kind: 'jwt', token: match[1] as string }
}
