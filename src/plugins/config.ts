// Exposes the validated configuration as `fastify.config`, so routes and plugins read
// settings from one typed object and never from process.env.
import fp from 'fastify-plugin'
import type { Config } from '../config/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export default fp<{ config: Config }>(async function configPlugin (fastify, opts) {
  fastify.decorate('config', opts.config)
}, { name: 'config', fastify: '5.x' })
