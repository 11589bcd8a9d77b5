// The one error handler: every failure becomes `{ statusCode, code, error, message }` with a
// stable code. 5xx details are hidden and only the class of failure is logged, so no upstream
// body, secret or token can reach a caller or a log line through an error.
import fp from 'fastify-plugin'
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, type ErrorCode } from '../lib/errors.js'

export interface ErrorBody {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
}

const CLIENT_CODES: Record<number, ErrorCode> = {
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED'
}

function body (statusCode: number, code: ErrorCode, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

export function toErrorBody (err: FastifyError | AppError): ErrorBody {
  if (err instanceof AppError) return body(err.statusCode, err.code, err.message)
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    // Validation and framework 4xx messages describe the request, never a secret.
    return body(status, CLIENT_CODES[status] ?? 'BAD_REQUEST', err.message)
  }
  return body(500, 'INTERNAL', 'Internal Server Error')
}

export default fp(async function errorHandler (fastify) {
  fastify.setErrorHandler(function (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const out = toErrorBody(err)
    if (out.statusCode >= 500) {
      const upstream = (err as { upstream?: string }).upstream
      const errorClass = (err as { errorClass?: string }).errorClass
      if (err instanceof AppError) {
        // Debug only: the token manager logs each outage once per state change at warn, so a
        // line per failed request would only flood the log during an outage.
        request.log.debug({ code: out.code, upstream, errorClass }, 'token request failed')
      } else {
        // Unexpected: log type and stack only, never the message of a foreign error verbatim
        // at info level; stack frames hold code locations, not request data.
        request.log.error({ code: out.code, errName: err.name, stack: err.stack }, 'unhandled error')
      }
    }
    if (out.statusCode === 401) reply.header('www-authenticate', 'Bearer')
    if (err instanceof AppError && err.retryAfterSeconds !== undefined) {
      reply.header('retry-after', String(err.retryAfterSeconds))
    }
    return reply.code(out.statusCode).send(out)
  })

  fastify.setNotFoundHandler(function (request, reply) {
    return reply.code(404).send(body(404, 'NOT_FOUND', 'Not Found'))
  })
}, { name: 'error-handler', fastify: '5.x' })
