// Lint config: neostandard, the Fastify projects' own ESLint preset, with TypeScript rules on.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'node_modules/**', 'bench/results/**', 'public/**/*.js']
  })
]
