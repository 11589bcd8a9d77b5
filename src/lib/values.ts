// Small value helpers shared by the server and the browser client, so each exists once.
// Dependency-free (no Node or DOM types): it is bundled into the browser client.

/** Longest delay setTimeout honours; Node fires anything larger after 1 ms, browsers at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The longest token lifetime accepted (one day): from a provider by the service
 * (src/token/sources/provider.ts), and from the service by the browser client. Anything longer
 * is a broken answer.
 */
export const MAX_EXPIRES_IN_SECONDS = 86_400

/** A parsed JSON object (not null, not an array). */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A random source outside [0, 1] (a broken injection) clamped rather than trusted; NaN is 0. */
export const clampUnit = (value: number): number => (value >= 0 ? Math.min(value, 1) : 0)

export const noop = (): void => {}
