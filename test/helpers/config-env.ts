// Shared fixtures for the config tests: a minimal valid environment, and a way to get the
// problems a rejected environment produces.
import { ConfigError, loadConfig, type LoadConfigDeps } from '../../src/config/load-config.js'

export const KEY_A = 'alice-key-0123456789abcdefghijklmnopqrstuvwxyz'
export const KEY_B = 'bob-key-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

/** Bandwidth enabled, one API key: the smallest environment that loads. */
export const MINIMAL: Record<string, string> = {
  BANDWIDTH_CLIENT_ID: 'bw-id',
  BANDWIDTH_CLIENT_SECRET: 'bw-secret',
  API_KEYS: `alice:${KEY_A}`,
}

export const BOTH_UPSTREAMS: Record<string, string> = {
  ...MINIMAL,
  GLOBAL_WEBRTC_CLIENT_ID: 'gl-id',
  GLOBAL_WEBRTC_CLIENT_SECRET: 'gl-secret',
}

export const AUTH: Record<string, string> = {
  AUTH_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json',
  AUTH_ISSUER: 'https://idp.example.com/',
  AUTH_AUDIENCE: 'webrtc-token-service',
}

/** A readFile that fails as fs would, so no test needs a real missing path. */
export function noFiles (): never {
  throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })
}

/** The ConfigError the environment is rejected with; throws if it loads. */
export function configError (env: Record<string, string | undefined>, deps?: LoadConfigDeps): ConfigError {
  try {
    loadConfig(env, deps)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected loadConfig to throw a ConfigError')
}

export function problems (env: Record<string, string | undefined>, deps?: LoadConfigDeps): string[] {
  return configError(env, deps).problems
}
