// Strict checks of what a client sends to the BRTC API, field by field as the provider's
// OpenAPI description (bandwidth.yml, tag Endpoints) states them: the create body
// (createWebRtcConnectionRequest, JSON only) and the list query (type, status, limit 1-1000,
// afterCursor). Every problem found is reported, each naming its field or parameter, so that a
// client bug shows up here rather than in production.
import { isJsonMediaType } from '../src/lib/http.js'
import { isRecord } from '../src/lib/values.js'
import { BrtcFailure, problem } from './brtc-errors.js'
import type { BrtcProblem } from './brtc-errors.js'
import { decodeCursor } from './brtc-store.js'
import type { ListQuery } from './brtc-store.js'
import { DIRECTIONS, ENDPOINT_STATUSES, ENDPOINT_TYPES } from './brtc-types.js'
import type { BrtcCreateRequest, BrtcDirection, BrtcEndpointStatus, BrtcEndpointType } from './brtc-types.js'

/** The fields of createWebRtcConnectionRequest (createEndpointRequestBase + connectionMetadata). */
export const CREATE_FIELDS: readonly string[] = ['type', 'direction', 'eventCallbackUrl', 'eventFallbackUrl', 'tag', 'connectionMetadata']
/** endpointTag: "maximum: 1024" in the spec, meant as a length; counted in UTF-16 units as Java and JS do. */
export const TAG_MAX_LENGTH = 1024
export const LIMIT = { min: 1, max: 1000, default: 100 } as const

/** Decode and parse the body into a JSON object; 415 for another media type, 400 otherwise. */
export function parseJsonObject (raw: Buffer | undefined, contentType: string | undefined): Record<string, unknown> {
  if (!isJsonMediaType(contentType)) {
    throw new BrtcFailure(415, problem(415, 'The provided media type is not supported: use application/json.'))
  }
  const invalid = (description: string): BrtcFailure => new BrtcFailure(400, { type: 'invalid_request', description, source: {} })
  if (raw === undefined) throw invalid('The request body is too large.')
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw))
  } catch {
    throw invalid('The request body is not valid JSON.')
  }
  if (!isRecord(value)) throw invalid('The request body must be a JSON object.')
  return value
}

/** An absolute http(s) URL (format: uri; a callback a provider can call). */
function isCallbackUrl (value: string): boolean {
  if (!URL.canParse(value) || /\s/.test(value)) return false
  const { protocol, hostname } = new URL(value)
  return (protocol === 'https:' || protocol === 'http:') && hostname !== ''
}

/** Check a createWebRtcConnectionRequest; throws a 400 listing every bad field. */
export function checkCreateRequest (body: Record<string, unknown>, rejectUnknownFields: boolean): BrtcCreateRequest {
  const problems: BrtcProblem[] = []
  const bad = (field: string, description: string): void => { problems.push(problem(400, description, { field })) }
  const { type, direction, eventCallbackUrl, eventFallbackUrl, tag, connectionMetadata } = body

  if (type === undefined) bad('type', 'type is required.')
  else if (!ENDPOINT_TYPES.includes(type as BrtcEndpointType)) bad('type', `type must be one of ${ENDPOINT_TYPES.join(', ')}.`)
  if (direction === undefined) bad('direction', 'direction is required.')
  else if (!DIRECTIONS.includes(direction as BrtcDirection)) bad('direction', `direction must be one of ${DIRECTIONS.join(', ')}.`)
  for (const [field, value] of [['eventCallbackUrl', eventCallbackUrl], ['eventFallbackUrl', eventFallbackUrl]] as const) {
    if (value !== undefined && (typeof value !== 'string' || !isCallbackUrl(value))) bad(field, `${field} must be an absolute http or https URI.`)
  }
  if (tag !== undefined && (typeof tag !== 'string' || tag.length > TAG_MAX_LENGTH)) {
    bad('tag', `tag must be a string of at most ${TAG_MAX_LENGTH} characters.`)
  }
  if (connectionMetadata !== undefined && !isRecord(connectionMetadata)) bad('connectionMetadata', 'connectionMetadata must be an object.')
  if (rejectUnknownFields) {
    for (const field of Object.keys(body)) if (!CREATE_FIELDS.includes(field)) bad(field, `Unknown field: ${field}.`)
  }
  if (problems.length > 0) throw new BrtcFailure(400, problems)

  const request: BrtcCreateRequest = { type: type as BrtcEndpointType, direction: direction as BrtcDirection }
  if (eventCallbackUrl !== undefined) request.eventCallbackUrl = eventCallbackUrl as string
  if (eventFallbackUrl !== undefined) request.eventFallbackUrl = eventFallbackUrl as string
  if (tag !== undefined) request.tag = tag as string
  if (connectionMetadata !== undefined) request.connectionMetadata = structuredClone(connectionMetadata as Record<string, unknown>)
  return request
}

/**
 * Check the list query. Parameters the spec does not name (e.g. `tag`: the list cannot filter
 * by tag) are ignored, as a provider ignores them: the answer is then simply not filtered.
 */
export function parseListQuery (params: URLSearchParams): ListQuery {
  const problems: BrtcProblem[] = []
  const bad = (parameter: string, description: string): void => { problems.push(problem(400, description, { parameter })) }
  const one = (name: string): string | undefined => {
    const values = params.getAll(name)
    if (values.length > 1) bad(name, `${name} must be given at most once.`)
    return values[0]
  }
  const type = one('type')
  const status = one('status')
  const limit = one('limit')
  const afterCursor = one('afterCursor')
  if (type !== undefined && !ENDPOINT_TYPES.includes(type as BrtcEndpointType)) bad('type', `type must be one of ${ENDPOINT_TYPES.join(', ')}.`)
  if (status !== undefined && !ENDPOINT_STATUSES.includes(status as BrtcEndpointStatus)) {
    bad('status', `status must be one of ${ENDPOINT_STATUSES.join(', ')}.`)
  }
  const size = limit === undefined ? LIMIT.default : /^[0-9]{1,4}$/.test(limit) ? Number(limit) : Number.NaN
  if (!(size >= LIMIT.min && size <= LIMIT.max)) bad('limit', `limit must be an integer from ${LIMIT.min} to ${LIMIT.max}.`)
  const after = afterCursor === undefined ? undefined : decodeCursor(afterCursor)
  if (afterCursor !== undefined && after === undefined) bad('afterCursor', 'afterCursor is not a cursor this API returned.')
  if (problems.length > 0) throw new BrtcFailure(400, problems)
  return { type: type as BrtcEndpointType | undefined, status: status as BrtcEndpointStatus | undefined, limit: size, after }
}
