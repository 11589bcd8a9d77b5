// Per-user endpoint tokens (only when BRTC_ACCOUNT_ID is set; otherwise these routes do not
// exist and answer 404 like any unknown path):
//   POST   /endpoints/webrtc               a new endpoint and its token for the caller (201; 409 at the cap)
//   GET    /endpoints/webrtc               the caller's own live endpoints (200)
//   DELETE /endpoints/webrtc/{endpointId}  delete one the caller owns (204; 404 when not theirs or unknown)
// Same authentication and per-identity rate limit as /token/webrtc, replies never cached. The
// caller's owner tags are computed once per request. The endpoint id is checked against a strict
// pattern before it goes anywhere near an upstream URL (where it is also percent-encoded).
// The request's own log line carries the endpoint id of a create or delete (and, for a create,
// the SHA-256 prefix that names its token, never the token). Requests are counted by operation
// and bounded outcome.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Owner } from '../brtc/owner-tag.js'
import { unauthorized } from '../lib/errors.js'
import { statusOutcome } from '../plugins/metrics.js'
import { CALLER_SECURITY, errorReplies } from './schemas.js'
import { noStore } from './token.js'

export const ENDPOINTS_ROUTE = '/endpoints/webrtc'

/** The provider's ids look like `e-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85`. */
export const ENDPOINT_ID_PATTERN = '^e-[0-9a-f][0-9a-f-]{7,99}$'

/**
 * The body a create or delete accepts: none, or `{}`. Anything else is a 400; a body over
 * the service's 4 KiB limit a 413, and one that is not JSON a 415.
 */
const NoBody = Type.Optional(Type.Union([Type.Null(), Type.Object({}, { additionalProperties: false })], { description: 'No body, or {}' }))

const OPERATIONS = ['create', 'list', 'delete'] as const
type Operation = typeof OPERATIONS[number]

export const ENDPOINT_REQUEST_OUTCOMES = [
  'success', 'not_found', 'limit', 'unauthorized', 'rate_limited', 'bad_request', 'unavailable', 'credentials_rejected', 'error'
] as const
type Outcome = typeof ENDPOINT_REQUEST_OUTCOMES[number]

const STATUS_OUTCOMES = { 401: 'unauthorized', 404: 'not_found', 409: 'limit', 429: 'rate_limited', 502: 'credentials_rejected', 503: 'unavailable' } as const

/** A request's outcome, from its status code. */
export function endpointRequestOutcome (status: number): Outcome {
  return statusOutcome<Outcome>(status, 'success', STATUS_OUTCOMES)
}

export const CreatedEndpointReply = Type.Object({
  endpoint_id: Type.String({ description: 'The endpoint\'s id, to delete it later' }),
  token: Type.String({ description: 'The endpoint\'s token (a JWT): authenticates this browser with the media gateway for this endpoint only' }),
  expires_in: Type.Integer({ minimum: 1, description: 'Whole seconds until the endpoint expires' }),
  expires_at: Type.String({ format: 'date-time', description: 'That instant (the provider\'s expirationTimestamp), ISO 8601 UTC' })
}, { additionalProperties: false })

export const EndpointListReply = Type.Object({
  endpoints: Type.Array(Type.Object({
    endpoint_id: Type.String(),
    expires_at: Type.String({ format: 'date-time' }),
    status: Type.String({ description: 'CONNECTED or DISCONNECTED: whether a device is connected' })
  }, { additionalProperties: false }))
}, { additionalProperties: false, description: 'The caller\'s own live endpoints' })

const endpointRoutes: FastifyPluginAsyncTypebox = async function endpointRoutes (fastify) {
  const { brtc } = fastify
  if (brtc === null) return
  const { endpoints } = brtc

  // JSON only, so any other body is a 415 (Fastify would read text/plain as a string, a 400).
  // "No body" includes a JSON content type with an empty body (what some HTTP clients send);
  // anything else goes to Fastify's own JSON parser. Only for these routes (this plugin's scope).
  const json = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, function emptyOrJson (request, body, done) {
    const text = body.toString()
    if (text === '') done(null, undefined)
    else json(request, text, done)
  })

  const requests = fastify.metrics.counter('brtc_endpoint_requests_total',
    'Requests to the /endpoints/webrtc routes, by operation (create, list, delete) and outcome.',
    ['operation', 'outcome'], OPERATIONS.flatMap((operation) => ENDPOINT_REQUEST_OUTCOMES.map((outcome) => ({ operation, outcome }))))
  const counted = (operation: Operation) => function countRequest (request: FastifyRequest, reply: { statusCode: number }, done: () => void): void {
    requests.inc({ operation, outcome: endpointRequestOutcome(reply.statusCode) })
    done()
  }
  const onRequest = [noStore, fastify.authenticate]

  /** The caller's tags, computed once per request (after authentication, which guarantees a caller). */
  async function ownerOf (request: FastifyRequest): Promise<Owner> {
    /* c8 ignore next -- fastify.authenticate ends every request without a caller */
    if (request.caller === null) throw unauthorized()
    return await endpoints.owner(request.caller)
  }

  fastify.post(ENDPOINTS_ROUTE, {
    schema: {
      summary: 'Create a WebRTC endpoint for the caller, and its token',
      description: 'Per-user endpoint tokens (BRTC). The token is bound to one endpoint that the caller can delete; the account token stays on the server.',
      security: CALLER_SECURITY,
      querystring: Type.Object({}, { additionalProperties: false }),
      body: NoBody,
      response: { 201: CreatedEndpointReply, ...errorReplies(400, 401, 409, 413, 415, 429, 500, 502, 503) }
    },
    onRequest,
    onResponse: counted('create')
  }, async function createEndpoint (request, reply) {
    const endpoint = await endpoints.create(await ownerOf(request))
    request.audit = { endpointId: endpoint.endpointId, tokenSha256: endpoint.tokenSha256, expiresAt: endpoint.expiresAt }
    return await reply.code(201).send({
      endpoint_id: endpoint.endpointId,
      token: endpoint.token.reveal(),
      expires_in: endpoint.expiresIn,
      expires_at: endpoint.expiresAt
    })
  })

  fastify.get(ENDPOINTS_ROUTE, {
    // A HEAD would read the account's whole list to send nothing.
    exposeHeadRoute: false,
    schema: {
      summary: 'The caller\'s own live WebRTC endpoints',
      security: CALLER_SECURITY,
      querystring: Type.Object({}, { additionalProperties: false }),
      response: { 200: EndpointListReply, ...errorReplies(400, 401, 429, 500, 502, 503) }
    },
    onRequest,
    onResponse: counted('list')
  }, async function listEndpoints (request) {
    const mine = await endpoints.list(await ownerOf(request))
    return { endpoints: mine.map((e) => ({ endpoint_id: e.endpointId, expires_at: e.expiresAt, status: e.status })) }
  })

  fastify.delete(`${ENDPOINTS_ROUTE}/:endpointId`, {
    schema: {
      summary: 'Delete one of the caller\'s WebRTC endpoints',
      description: '204 when it was the caller\'s and is now deleted or was already gone; 404 when it does not exist or is someone else\'s (the two look the same).',
      security: CALLER_SECURITY,
      params: Type.Object({ endpointId: Type.String({ pattern: ENDPOINT_ID_PATTERN, description: 'The endpoint_id a create returned' }) }),
      querystring: Type.Object({}, { additionalProperties: false }),
      body: NoBody,
      response: {
        204: Type.Unsafe<void>({ description: 'Deleted, or already gone' }),
        // 414: an endpointId over the router's 128 characters, refused while routing.
        ...errorReplies(400, 401, 404, 413, 414, 415, 429, 500, 502, 503)
      }
    },
    onRequest,
    onResponse: counted('delete')
  }, async function deleteEndpoint (request, reply) {
    const { endpointId } = request.params
    const outcome = await endpoints.remove(await ownerOf(request), endpointId)
    request.audit = { endpointId, deleted: outcome }
    return await reply.code(204).send()
  })
}

export default endpointRoutes
