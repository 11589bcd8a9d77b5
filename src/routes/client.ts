// GET /client/token-client.js: the browser token client (src/client/, built by `npm run build`
// to dist/client/), for apps that load it straight from the service:
//   import { createTokenClient } from 'https://tokens.example.com/client/token-client.js'
//
// Decisions:
// - Read once at startup; a strong ETag (SHA-256 of the bytes) and If-None-Match → 304.
// - `Cache-Control: public, max-age=86400`, not `immutable`: the URL carries no version, so an
//   immutable year would pin a buggy client in browsers with no way to purge it. A day is long
//   for a file this size, and after it a revalidation costs a 304. A versioned URL would break
//   every app that hard-coded it at the next deploy, since the service serves only its own build.
// - The same CORS as every other route: none with CORS_ORIGINS unset (a page on the service's own
//   origin needs none), and the exact allowed origins otherwise. A module script is a CORS
//   request, so a page on another origin imports the client exactly when its origin may also
//   read tokens; a page that may not could not use the client anyway.
// - A missing file is not fatal: the token API must not go down for a static asset. It logs a
//   warning at startup and answers 404. (`npm run build` always emits it; running from src/,
//   as tests and `tsx` do, has no built client unless a file is passed in.)
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { appError } from '../lib/errors.js'
import { errorReplies } from './schemas.js'

export interface ClientRouteOptions {
  /** The built client module. Default: ../client/token-client.js next to this file (dist/client/ in a build). */
  file?: string | URL
}

export const CLIENT_PATH = '/client/token-client.js'
export const DEFAULT_CLIENT_FILE = new URL('../client/token-client.js', import.meta.url)
export const CLIENT_CACHE_CONTROL = 'public, max-age=86400'

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): `W/` is ignored; `*` matches. */
export function etagMatches (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  return ifNoneMatch.split(',').some((candidate) => {
    const tag = candidate.trim()
    return tag === '*' || tag.replace(/^W\//, '') === etag
  })
}

async function load (file: string | URL): Promise<{ body: Buffer, etag: string } | undefined> {
  try {
    const body = await readFile(file)
    return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

const clientRoute: FastifyPluginAsyncTypebox<ClientRouteOptions> = async function clientRoute (fastify, opts) {
  const file = opts.file ?? DEFAULT_CLIENT_FILE
  const bundle = await load(file)
  if (bundle === undefined) {
    const path = file instanceof URL ? fileURLToPath(file) : file
    fastify.log.warn({ file: path }, `browser token client not found at the logged file; ${CLIENT_PATH} answers 404 ` +
      '(npm run build writes it for the built service, dist/bundle/server.js; a service run from src/ has none)')
  }

  fastify.get(CLIENT_PATH, {
    schema: {
      summary: 'The browser token client (ES module)',
      querystring: Type.Object({}),
      headers: Type.Object({ 'if-none-match': Type.Optional(Type.String()) }),
      response: {
        // Sent as the file's bytes (a Buffer is never serialised); typed so.
        200: Type.Unsafe<Buffer>({ type: 'string', description: 'The ES module, text/javascript' }),
        304: Type.Unsafe<void>({ description: 'Not Modified: the ETag matched; no body, no Content-Type, no Content-Length' }),
        ...errorReplies(400, 404, 500)
      }
    }
  }, async function tokenClient (request, reply) {
    if (bundle === undefined) {
      throw appError(404, 'NOT_FOUND', 'The browser token client is not built')
    }
    reply.header('etag', bundle.etag).header('cache-control', CLIENT_CACHE_CONTROL)
    // No body, so no Content-Type and no Content-Length (HTTP clients reject a 304 that announces one).
    if (etagMatches(request.headers['if-none-match'], bundle.etag)) return await reply.code(304).send()
    return await reply.type('text/javascript; charset=utf-8').send(bundle.body)
  })
}

export default clientRoute
