// Environment for child processes that tests spawn (the server, the demo, the emulator CLI).
// Drops tap's coverage and loader variables: a child runs the TypeScript through tsx, whose
// transpiled output maps differently from tap's own loader, and merging its V8 coverage into the
// parent's corrupts the report. Also drops every variable of the service's contract, so a
// developer's own shell settings cannot leak into a test.
const DROP = /^(NODE_V8_COVERAGE|NODE_OPTIONS|TAP|_TAPJS|TS_NODE_|PORT$|HOST$|LOG_LEVEL$|BANDWIDTH_|GLOBAL_WEBRTC_|DEFAULT_UPSTREAM$|TOKEN_REFRESH_AT$|UPSTREAM_TIMEOUT_MS$|API_KEYS|AUTH_|CORS_ORIGINS$|RATE_LIMIT_|REDIS_URL|TRUST_PROXY$|EMULATOR_)/

export function childEnv (extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !DROP.test(k)) env[k] = v
  return { ...env, ...extra }
}
