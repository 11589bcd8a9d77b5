// What this (the orchestrating) process hosts for every benchmark run: the provider emulator,
// a JWKS with its signing keys, the API keys and the JWTs the scenarios send. Created by
// createFixtures() and closed by bench/run.ts, rather than on import, so that a module can be
// loaded without starting servers. Also how the service and naive processes are started
// against them.
import { randomBytes } from 'node:crypto'
import { emulatorUpstreamEnv, type EmulatorCredentials } from '../emulator/service-env.js'
import { createUpstreamEmulator, DEFAULT_TENANTS, type UpstreamEmulator } from '../emulator/upstream-emulator.js'
import { createTestJwks, type TestJwks } from '../test/helpers/jwks.js'
import { startChild, type BenchChild } from './child.js'
import type { Settings } from './settings.js'

/**
 * Failed authentication is limited per client IP, and every request here comes from
 * 127.0.0.1: a huge limit keeps the limiter counting (its cost is measured) but never refusing.
 */
export const RATE_LIMIT_MAX = 2000000000

export interface Fixtures {
  readonly credentials: EmulatorCredentials
  readonly emulator: UpstreamEmulator
  readonly idp: TestJwks
  readonly apiKey: string
  readonly badKey: string
  /** One valid RS256 JWT, sent over and over. */
  readonly jwt: string
  /** 100 valid JWTs of different subjects, rotated. */
  readonly jwtPool: string[]
}

/** Starts the emulator and the JWKS on 127.0.0.1 (free ports); the caller closes both. */
export async function createFixtures (): Promise<Fixtures> {
  const secret = (): string => randomBytes(24).toString('base64url')
  const credentials = {
    bandwidth: { clientId: 'bench-bandwidth', clientSecret: secret() },
    global: { clientId: 'bench-global', clientSecret: secret() }
  }
  const emulator = createUpstreamEmulator({ tenants: credentials, logLimit: 50, tokenLimit: 100 })
  await emulator.listen({ host: '127.0.0.1', port: 0 })
  const idp = await createTestJwks({ ttlSeconds: 3600 })
  const apiKey = randomBytes(32).toString('base64url')
  const badKey = randomBytes(32).toString('base64url')
  const jwt = await idp.sign({ sub: 'browser-user' })
  const jwtPool = await Promise.all(Array.from({ length: 100 }, async (_, i) => await idp.sign({ sub: `user-${i}` })))
  return { credentials, emulator, idp, apiKey, badKey, jwt, jwtPool }
}

function serviceEnv (fixtures: Fixtures, settings: Settings, overrides: Record<string, string>): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: settings.logLevel,
    ...emulatorUpstreamEnv(fixtures.emulator, fixtures.credentials),
    API_KEYS: `bench:${fixtures.apiKey}`,
    AUTH_JWKS_URL: fixtures.idp.jwksUrl.href,
    AUTH_ISSUER: fixtures.idp.issuer,
    AUTH_AUDIENCE: fixtures.idp.audience,
    RATE_LIMIT_MAX: String(RATE_LIMIT_MAX),
    ...overrides
  }
}

export interface StartServiceOptions {
  /** The service counts received requests (the stampede waits for them all). */
  countRequests?: boolean
  nodeFlags?: string[]
  /** A command node runs under (the instructions mode's valgrind). */
  wrapper?: string[]
  /** A built JavaScript file to run instead of bench/service.ts (the instructions mode). */
  built?: string
  /** Another checkout whose bench/service.ts to run (`--compare`). */
  root?: string
}

/** A service process (bench/service.ts) wired to the fixtures; `overrides` replace env entries. */
export async function startService (fixtures: Fixtures, settings: Settings, overrides: Record<string, string> = {}, opts: StartServiceOptions = {}): Promise<BenchChild> {
  return await startChild({
    file: 'service.ts',
    root: opts.root,
    nodeFlags: opts.nodeFlags,
    wrapper: opts.wrapper,
    built: opts.built,
    start: { type: 'start', env: serviceEnv(fixtures, settings, overrides), countRequests: opts.countRequests ?? false }
  })
}

/**
 * The naive server's settings (bench/naive.ts): the upstream the service serves by default here
 * (`global`, see emulator/service-env.ts), with the same credentials and scope, and one API key.
 */
function naiveEnv ({ emulator, credentials, apiKey }: Fixtures): Record<string, string> {
  return {
    TOKEN_URL: emulator.tokenUrl('global'),
    CLIENT_ID: credentials.global.clientId,
    CLIENT_SECRET: credentials.global.clientSecret,
    SCOPE: DEFAULT_TENANTS.global.requiredScope ?? '',
    UPSTREAM: 'global',
    API_KEY: apiKey
  }
}

/** A naive token server process (bench/naive.ts) holding one token from the emulator. */
export async function startNaive (fixtures: Fixtures, opts: { nodeFlags?: string[], wrapper?: string[], built?: string } = {}): Promise<BenchChild> {
  return await startChild({ file: 'naive.ts', nodeFlags: opts.nodeFlags, wrapper: opts.wrapper, built: opts.built, start: { type: 'start', env: naiveEnv(fixtures), countRequests: false } })
}
