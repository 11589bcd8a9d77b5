// The naive row: a token server as the provider's own in-app-calling sample server writes one.
// Fastify with no logger, the caller's X-API-Key compared as a plain string against one key,
// and one token fetched from the provider at start (the same credentials and upstream the
// service uses) and served from memory as JSON. No rate limit, no security headers, no request
// ids, no metrics, no log line: the service's rows against this one price being secure and
// observable. Spawned by bench/run.ts in its own process; configured over IPC (the `start`
// message) like bench/service.ts. It refetches the token at 80 % of its lifetime, so a long
// run never serves an expired one.
import Fastify from 'fastify'
import { send, startMessage, statsMessage, type ToChild } from './protocol.js'

/** What the orchestrator sends (bench/fixtures.ts, naiveEnv). */
interface NaiveEnv { TOKEN_URL: string, CLIENT_ID: string, CLIENT_SECRET: string, SCOPE: string, UPSTREAM: string, API_KEY: string }

interface HeldToken { accessToken: string, tokenType: string, expiresAtMs: number, expiresAt: string }

async function fetchToken (env: NaiveEnv): Promise<HeldToken> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' })
  if (env.SCOPE !== '') form.set('scope', env.SCOPE)
  const res = await fetch(env.TOKEN_URL, {
    method: 'POST',
    headers: {
      authorization: 'Basic ' + Buffer.from(`${env.CLIENT_ID}:${env.CLIENT_SECRET}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded'
    },
    body: form.toString()
  })
  if (!res.ok) throw new Error(`the token endpoint answered ${res.status}`)
  const body = await res.json() as { access_token: string, token_type: string, expires_in: number }
  const expiresAtMs = Date.now() + body.expires_in * 1000
  return { accessToken: body.access_token, tokenType: body.token_type, expiresAtMs, expiresAt: new Date(expiresAtMs).toISOString() }
}

process.on('disconnect', () => process.exit(0))

const env = (await startMessage()).env as unknown as NaiveEnv
let token: HeldToken
try {
  token = await fetchToken(env)
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) })
  process.exit(1)
}
/** Refetch at 80 % of the held token's lifetime (again 1 s after a failure). */
function keepFresh (delayMs: number): void {
  setTimeout(() => {
    fetchToken(env).then((t) => { token = t; keepFresh((t.expiresAtMs - Date.now()) * 0.8) }, () => { keepFresh(1000) })
  }, delayMs).unref()
}
keepFresh((token.expiresAtMs - Date.now()) * 0.8)

const fastify = Fastify({ logger: false })
fastify.get('/token/webrtc', async (request, reply) => {
  if (request.headers['x-api-key'] !== env.API_KEY) return await reply.code(401).send({ error: 'unauthorized' })
  return {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_in: Math.max(1, Math.floor((token.expiresAtMs - Date.now()) / 1000)),
    expires_at: token.expiresAt,
    upstream: env.UPSTREAM
  }
})

process.on('message', (message: ToChild) => {
  if (message.type === 'stats') send(statsMessage(0))
  if (message.type === 'stop') {
    fastify.close().then(() => process.exit(0), () => process.exit(1))
  }
})

await fastify.listen({ host: '127.0.0.1', port: 0 })
const address = fastify.server.address()
send({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
