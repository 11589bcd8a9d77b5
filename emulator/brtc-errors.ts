// The BRTC API's error answers (brtcErrorResponse: `{links: [], data: null, errors: [...]}`),
// worded as the provider's OpenAPI examples word them (type, description, code, source), so
// that a client is tested against the bodies it will really see. Every refusal of brtc.ts is a
// BrtcFailure thrown here and answered in one place; status faults use brtcFaultStyle.
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { FaultStyle } from './faults.js'
import { sendJson } from './oauth.js'
import type { BrtcErrorResponse, BrtcErrorSource } from './brtc-types.js'

/** One problem: a brtcError without its generated `id` and `code`. */
export interface BrtcProblem { type: string, description: string, source: BrtcErrorSource }

export const REALM = 'BRTC Endpoints API (emulated)'

/** The spec's example problem for each status it lists (other statuses get a generic one). */
export function defaultProblem (status: number): BrtcProblem {
  const credentials = 'The provided credentials are not authorized to access this resource.'
  switch (status) {
    case 400: return { type: 'invalid_parameter', description: 'The request is invalid.', source: {} }
    case 401: return { type: 'unauthorized', description: credentials, source: { header: 'Authorization' } }
    case 403: return { type: 'forbidden', description: credentials, source: { header: 'Authorization' } }
    case 404: return { type: 'resource_not_found', description: 'The requested resource was not found.', source: {} }
    case 405: return { type: 'method_not_allowed', description: 'The requested method is not allowed on this resource.', source: {} }
    case 415: return { type: 'unsupported_media_type', description: 'The provided media type is not supported.', source: { header: 'Content-Type' } }
    // The spec's only documented 429 (its example, word for word).
    case 429: return { type: 'too_many_endpoints', description: 'Too many endpoints. Please delete an existing endpoint or wait 24 hours for an endpoint to be removed.', source: {} }
    case 500: return { type: 'service_unavailable', description: 'The service is currently unavailable.', source: {} }
    default: return { type: status >= 500 ? 'service_unavailable' : 'error', description: `Emulated ${status}`, source: {} }
  }
}

export function errorResponse (status: number, problems: readonly BrtcProblem[]): BrtcErrorResponse {
  return {
    links: [],
    data: null,
    errors: problems.map((p) => ({ id: randomUUID(), type: p.type, description: p.description, code: String(status), source: { ...p.source } }))
  }
}

/** A refusal: the status, its problems (at least one) and extra headers (Allow, WWW-Authenticate). */
export class BrtcFailure extends Error {
  readonly status: number
  readonly problems: BrtcProblem[]
  readonly headers: Record<string, string>

  constructor (status: number, problems: BrtcProblem | BrtcProblem[], headers: Record<string, string> = {}) {
    const list = Array.isArray(problems) ? problems : [problems]
    super(list.map((p) => p.description).join(' '))
    this.status = status
    this.problems = list
    this.headers = headers
  }
}

/** The status's default problem with another description and source. */
export const problem = (status: number, description: string, source: BrtcErrorSource = defaultProblem(status).source): BrtcProblem =>
  ({ type: defaultProblem(status).type, description, source })

export const unauthorized = (description: string): BrtcFailure =>
  new BrtcFailure(401, problem(401, description), { 'WWW-Authenticate': `Bearer realm="${REALM}"` })

export function sendFailure (res: ServerResponse, failure: BrtcFailure): void {
  sendJson(res, failure.status, errorResponse(failure.status, failure.problems), failure.headers)
}

/**
 * `Retry-After` of a 429 fault that sets none: the spec marks the header required on every 429.
 * One second, so that tests of a client's back-off do not wait long.
 */
export const DEFAULT_429_RETRY_AFTER = '1'

/**
 * How a status fault programmed on 'brtc' answers: a brtcErrorResponse, a Bearer challenge,
 * and Retry-After on a 429 (DEFAULT_429_RETRY_AFTER unless the fault says; `retryAfter: null`
 * leaves it out, as a provider breaking its own spec would).
 */
export const brtcFaultStyle: FaultStyle = {
  challenge: `Bearer realm="${REALM}"`,
  errorBody: (status) => errorResponse(status, [defaultProblem(status)]),
  defaultRetryAfter: (status) => status === 429 ? DEFAULT_429_RETRY_AFTER : undefined
}
