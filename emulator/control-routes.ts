// DEV-ONLY control routes of the upstream emulator, so that out-of-process users (benchmarks,
// soak and browser tests, the compose `dev` profile) can steer it like in-process tests do:
//   POST /__emulator/fault       {"tenant": "global", "fault": {"kind": "status", "status": 503}}
//                                ("tenant": "brtc" programs the BRTC API; its fault may name an
//                                 "operation": create, list, get or delete)
//   POST /__emulator/expires-in  {"tenant": "bandwidth", "seconds": 5}
//   POST /__emulator/endpoint-lifetime  {"seconds": 5}   (BRTC endpoints created from now on)
//   POST /__emulator/credentials {"tenant": "bandwidth", "clientSecret": "…", "secondarySecret": "…"}
//                                (either field; "secondarySecret": null stops the second secret:
//                                 the provider's two-secret rotation, to rehearse the runbook;
//                                 secrets are never echoed nor in stats)
//   POST /__emulator/reset
//   GET  /__emulator/stats       -> EmulatorStats
// They have no authentication at all: anyone who reaches the emulator can program it. That is
// acceptable only because the emulator is a test double that never runs in production.
import type { ServerResponse } from 'node:http'
import { parseFault } from './faults.js'
import { sendJson } from './oauth.js'
import { FAULT_TARGETS, TENANTS } from './types.js'
import type { EmulatorControl, FaultTarget, Tenant } from './types.js'

export const CONTROL_PREFIX = '/__emulator/'

const ROUTES: Record<string, string> = {
  fault: 'POST',
  'expires-in': 'POST',
  'endpoint-lifetime': 'POST',
  credentials: 'POST',
  reset: 'POST',
  stats: 'GET'
}

class BadRequest extends Error {}

function readJson (raw: string, contentType: string | undefined): Record<string, unknown> {
  if (raw === '') return {}
  if (!/^application\/json\b/i.test(contentType ?? '')) throw new BadRequest('Content-Type must be application/json')
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    throw new BadRequest('Body is not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('Body must be a JSON object')
  return value as Record<string, unknown>
}

function tenantOf (body: Record<string, unknown>): Tenant {
  const tenant = body.tenant
  if (!TENANTS.includes(tenant as Tenant)) throw new BadRequest(`tenant must be one of ${TENANTS.join(', ')}`)
  return tenant as Tenant
}

/** The fault route's `tenant`: a tenant, or 'brtc'. */
function targetOf (body: Record<string, unknown>): FaultTarget {
  const target = body.tenant
  if (!FAULT_TARGETS.includes(target as FaultTarget)) throw new BadRequest(`tenant must be one of ${FAULT_TARGETS.join(', ')}`)
  return target as FaultTarget
}

const optionalText = (body: Record<string, unknown>, field: string): string | undefined => {
  const value = body[field]
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw new BadRequest(`${field} must be a non-empty string`)
  return value
}

/** The credentials route: the tenant's secret and second secret, each optional; both checked before either is set. */
function setCredentials (control: EmulatorControl, body: Record<string, unknown>): void {
  const tenant = tenantOf(body)
  const secret = optionalText(body, 'clientSecret')
  const secondary = body.secondarySecret === null ? null : optionalText(body, 'secondarySecret')
  if (secret === undefined && secondary === undefined) throw new BadRequest('clientSecret or secondarySecret is required')
  if (secret !== undefined) control.setClientSecret(tenant, secret)
  if (secondary !== undefined) control.setSecondarySecret(tenant, secondary)
}

/** Serve one control request; `name` is the path after the prefix. */
export function handleControl (
  control: EmulatorControl, name: string, method: string, raw: string, contentType: string | undefined, res: ServerResponse
): void {
  const allowed = ROUTES[name]
  if (allowed === undefined) return sendJson(res, 404, { error: 'not_found' })
  if (method !== allowed) return sendJson(res, 405, { error: 'method_not_allowed' }, { Allow: allowed })
  try {
    const body = readJson(raw, contentType)
    if (name === 'stats') return sendJson(res, 200, control.stats())
    if (name === 'reset') control.reset()
    if (name === 'fault') {
      if (!('fault' in body)) throw new BadRequest('fault is required (null clears)')
      control.setFault(targetOf(body), parseFault(body.fault))
    }
    if (name === 'expires-in') control.setExpiresIn(tenantOf(body), body.seconds as number)
    if (name === 'endpoint-lifetime') control.setEndpointLifetime(body.seconds as number)
    if (name === 'credentials') setCredentials(control, body)
    sendJson(res, 200, { ok: true })
  } catch (err) {
    /* c8 ignore next -- defensive: every throw above is a BadRequest or a TypeError */
    if (!(err instanceof BadRequest || err instanceof TypeError)) throw err
    sendJson(res, 400, { error: 'bad_request', message: err.message })
  }
}
