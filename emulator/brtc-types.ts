// Types of the emulated BRTC Endpoints API (Bandwidth's `https://api.bandwidth.com/v2`
// `/accounts/{accountId}/endpoints`), named and shaped as the provider's OpenAPI description
// (bandwidth.yml of Bandwidth/node-sdk, tag `Endpoints`) names them, so that the wire code in
// brtc*.ts reads against the spec. Kept apart from types.ts, which holds the token side.
import type { BrtcOperation, Fault } from './types.js'

/** endpointTypeEnum: WEBRTC is the only type. */
export type BrtcEndpointType = 'WEBRTC'
export const ENDPOINT_TYPES: readonly BrtcEndpointType[] = ['WEBRTC']

/** endpointDirectionEnum. */
export type BrtcDirection = 'INBOUND' | 'OUTBOUND' | 'BIDIRECTIONAL'
export const DIRECTIONS: readonly BrtcDirection[] = ['INBOUND', 'OUTBOUND', 'BIDIRECTIONAL']

/** endpointStatusEnum (and deviceStatusEnum): whether a device is connected. */
export type BrtcEndpointStatus = 'CONNECTED' | 'DISCONNECTED'
export const ENDPOINT_STATUSES: readonly BrtcEndpointStatus[] = ['CONNECTED', 'DISCONNECTED']

/** brtcLink. */
export interface BrtcLink { href: string, rel: string, method: string }

/** page (of listEndpointsResponse). */
export interface BrtcPage { pageSize: number, totalElements: number, totalPages: number, pageNumber: number }

/** brtcErrorSource: which part of the request is at fault. */
export interface BrtcErrorSource { parameter?: string, field?: string, header?: string, reference?: string }

/** brtcError. The emulator always sends all five fields (the spec requires type and description). */
export interface BrtcError { id: string, type: string, description: string, code: string, source: BrtcErrorSource }

/** brtcErrorResponse. */
export interface BrtcErrorResponse { links: BrtcLink[], data: null, errors: BrtcError[] }

/** device. */
export interface BrtcDevice { deviceId: string, deviceName?: string, status: BrtcEndpointStatus, creationTimestamp: string }

/** createWebRtcConnectionRequest, once validated. */
export interface BrtcCreateRequest {
  type: BrtcEndpointType
  direction: BrtcDirection
  eventCallbackUrl?: string
  eventFallbackUrl?: string
  tag?: string
  connectionMetadata?: Record<string, unknown>
}

/** An endpoint as the emulator stores it: the request, what it assigned, and its token. */
export interface BrtcEndpointRecord extends BrtcCreateRequest {
  accountId: string
  endpointId: string
  status: BrtcEndpointStatus
  /** ISO 8601, milliseconds, UTC. */
  creationTimestamp: string
  /** creationTimestamp + the endpoint lifetime in force at creation. */
  expirationTimestamp: string
  devices: BrtcDevice[]
  /** The endpoint's JWT-shaped token (a real value: tests look for it in logs and responses). */
  token: string
}

export interface BrtcOptions {
  /**
   * The account id(s) that exist (default '9900000', the spec's example). Decimal digits only,
   * as the provider requires (anything else in the path is a 400 invalid_parameter).
   */
  accountId?: string | readonly string[]
  /** Where the API is mounted on the emulator (default '/v2', as in production). '' or `/seg[/seg…]`. */
  basePath?: string
  /** Initial endpoint lifetime, seconds (default 86400); see EmulatorControl.setEndpointLifetime. */
  endpointLifetime?: number
  /**
   * Refuse body fields the spec does not name with a 400 (default false). The spec's request
   * schemas do not say `additionalProperties: false`, so by the spec they are allowed; every
   * request's field names are in the log (`bodyFields`) either way.
   */
  rejectUnknownFields?: boolean
}

/** One BRTC request, without any token: never the Authorization value, never an endpoint token. */
export interface BrtcRequestLogEntry {
  seq: number
  at: string
  /** `undefined` for an unknown path or a method the path does not allow. */
  operation: BrtcOperation | undefined
  method: string
  /** Path only (account and endpoint ids are not secrets). */
  path: string
  accountId: string | undefined
  /** Path endpoint id (get, delete) or the id created (a successful create). */
  endpointId: string | undefined
  /**
   * Query parameters in order, as [name, value]; values other than those of `type`, `status`,
   * `limit` and `afterCursor` are replaced by `[redacted]`.
   */
  query: Array<[string, string]>
  headerNames: string[]
  contentType: string | undefined
  /** Scheme word of the Authorization header (e.g. `Bearer`), never its credentials. */
  authScheme: string | undefined
  /** Top-level field names of a JSON object body, in order; `undefined` otherwise. */
  bodyFields: string[] | undefined
  bodyBytes: number
  outcome: number | 'hang' | 'drop'
  /** brtcError `type` answered, if any. */
  error: string | undefined
  fault: Fault['kind'] | undefined
}

export interface BrtcStats {
  /** BRTC requests since creation or reset (not bounded by logLimit). */
  requests: number
  /** The same, per operation (unknown paths and wrong methods count in `requests` only). */
  operations: Record<BrtcOperation, number>
  /** Endpoints created since creation or reset. */
  created: number
  /** Endpoints stored now (expired ones included: the provider does not say it removes them). */
  endpoints: number
  fault: Fault | null
  endpointLifetime: number
}
