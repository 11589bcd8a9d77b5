// Preload that counts the modules a process loads (`node --import ./bench/module-count.mjs …`):
// ES modules through a load hook (bench/module-count-hooks.mjs, on the hooks thread), CommonJS
// from require.cache, each file once. Writes {"esm":n,"cjs":n} to the file named by
// BENCH_MODULES_OUT whenever the counts change (checked every 50 ms). Used by bench/startup.ts
// in a start of its own, never a timed one: the hooks thread slows loading down.
import { writeFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'
import { fileURLToPath } from 'node:url'
import { MessageChannel } from 'node:worker_threads'

const out = process.env.BENCH_MODULES_OUT
/** File path → the format the load hook reported ('module', 'commonjs', 'json', …). */
const formats = new Map()
const { port1, port2 } = new MessageChannel()
port1.on('message', ({ url, format }) => { if (url.startsWith('file:')) formats.set(fileURLToPath(url), format) })
port1.unref()
register('./module-count-hooks.mjs', { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] })

const cache = createRequire(import.meta.url).cache
let written = ''
setInterval(() => {
  const files = new Set([...formats.keys(), ...Object.keys(cache)])
  let esm = 0
  for (const file of files) if (formats.has(file) && formats.get(file) !== 'commonjs') esm++
  const counts = JSON.stringify({ esm, cjs: files.size - esm })
  if (counts !== written && out !== undefined) writeFileSync(out, counts)
  written = counts
}, 50).unref()
