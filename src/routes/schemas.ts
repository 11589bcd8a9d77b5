// Response schemas shared by the routes. They document the contract and, through
// fast-json-stringify, keep any field not listed here out of the reply.
import { Type } from 'typebox'

export const ErrorReply = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
}, { $id: 'ErrorReply', additionalProperties: false })

export const errorReplies = (...statuses: number[]): Record<number, typeof ErrorReply> =>
  Object.fromEntries(statuses.map((s) => [s, ErrorReply]))
