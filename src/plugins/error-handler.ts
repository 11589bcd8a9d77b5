// The one error handler: every failure becomes `{ statusCode, code, error, message }` with a
// stable code. 5xx details are hidden and only the class of failure is logged, so no upstream
// body, secret or token can reach a caller or a log line through an error. A request refused
// before routing (a bad percent-encoding, which Fastify hands to `frameworkErrors`) is answered
// here too, with the same shape, headers, log line and metric; so is one Node's HTTP parser
// refuses (`clientErrorHandler`), on the raw socket. Neither reply echoes the request.
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, logSafeCode, type ErrorCode } from '../lib/errors.js'

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

export function errorBody (statusCode: number, code: ErrorCode, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

export function toErrorBody (err: FastifyError | AppError): ErrorBody {
  if (err instanceof AppError) return errorBody(err.statusCode, err.code, err.message)
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    // Validation messages name the field that failed, never its value; other framework 4xx
    // messages may quote the request (a URL, a header), so they are replaced.
    const message = err.validation !== undefined ? err.message : (STATUS_CODES[status] ?? 'Bad Request')
    return errorBody(status, CLIENT_CODES[status] ?? 'BAD_REQUEST', message)
  }
  return errorBody(500, 'INTERNAL', 'Internal Server Error')
}

/** What Node's parser refused, as a status, a reason for logs and metrics, and a message. */
function clientErrorReply (err: NodeJS.ErrnoException): { status: number, reason: string, message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'header_overflow', message: 'Request header fields too large' }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, reason: 'timeout', message: 'Request timeout' }
  return { status: 400, reason: 'bad_request', message: 'Malformed request' }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Answers a request Fastify refused before routing (its `frameworkErrors` option). */
    replyMalformed: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => void
    /** Answers, on the raw socket, a request Node's HTTP parser refused (the server's `clientError`). */
    replyClientError: (err: NodeJS.ErrnoException, socket: Socket) => void
  }
}

export default fp(async function errorHandler (fastify) {
  fastify.setErrorHandler(function (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const out = toErrorBody(err)
    if (out.statusCode >= 500) {
      if (err instanceof AppError) {
        // Debug only: the token manager logs each outage once per state change at warn, so a
        // line per failed request would only flood the log during an outage.
        request.log.debug({ code: out.code, upstream: err.upstream, errorClass: err.errorClass }, 'request failed')
      } else {
        // Unexpected: its class and stack frames, never its message, which may quote request data.
        request.log.error({ code: out.code, err }, 'unhandled error')
      }
    }
    if (out.statusCode === 401) reply.header('www-authenticate', 'Bearer')
    if (err instanceof AppError) {
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds))
      if (err.headers !== undefined) reply.headers(err.headers)
    }
    return reply.code(out.statusCode).send(out)
  })

  fastify.setNotFoundHandler(function (_request, reply) {
    return reply.code(404).send(errorBody(404, 'NOT_FOUND', 'Not Found'))
  })

  fastify.decorate('replyMalformed', function replyMalformed (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400
    fastify.metrics.malformedRequest(err.code === 'FST_ERR_BAD_URL' ? 'bad_url' : 'bad_request')
    reply.code(status).headers(fastify.replyHeaders(request.id)).header('cache-control', 'no-store')
      .send(errorBody(status, 'BAD_REQUEST', 'Malformed request URL'))
    fastify.logRequest(request, reply, { code: logSafeCode(err) })
  })

  fastify.decorate('replyClientError', function replyClientError (err: NodeJS.ErrnoException, socket: Socket) {
    // A reset connection has nothing left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const { status, reason, message } = clientErrorReply(err)
    const id = randomUUID()
    fastify.metrics.malformedRequest(reason)
    // The one line for it: never the error object, whose `rawPacket` holds the request's bytes.
    fastify.log.info({ reqId: id, status, code: logSafeCode(err), remoteAddress: socket.remoteAddress }, 'request refused by the HTTP parser')
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const body = JSON.stringify(errorBody(status, 'BAD_REQUEST', message))
    const headers = { ...fastify.replyHeaders(id), 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' }
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n${head}\r\n${body}`, () => { socket.destroy() })
  })
}, { name: 'error-handler', fastify: '5.x', dependencies: ['security', 'metrics', 'request-log'] })
