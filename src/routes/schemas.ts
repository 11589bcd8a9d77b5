// Response schemas shared by the routes. They document the contract (and the OpenAPI document
// generated from them) and, through fast-json-stringify, keep any field not listed here out of
// the reply.
import { Type } from 'typebox'

export const ErrorReply = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'Stable machine code, e.g. UNAUTHORIZED, RATE_LIMITED, UPSTREAM_UNAVAILABLE' }),
  error: Type.String(),
  message: Type.String()
}, { additionalProperties: false, description: 'An error; never carries a secret, a token or an upstream body' })

export const errorReplies = (...statuses: number[]): Record<number, typeof ErrorReply> =>
  Object.fromEntries(statuses.map((s) => [s, ErrorReply]))

/**
 * The credentials an authenticated route takes, as OpenAPI security requirements (the schemes
 * are declared in src/plugins/openapi.ts): an `X-API-Key` header or a `Bearer` JWT, either one.
 * Documented this way rather than as a headers schema, which would be validated on every
 * request for nothing (a header is always a string; the auth plugin checks what it holds).
 */
export const CALLER_SECURITY: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearer: [] }]
