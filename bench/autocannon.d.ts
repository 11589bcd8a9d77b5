// Minimal type declarations for the parts of autocannon's programmatic API the benchmark uses;
// autocannon ships no types and adding @types packages is not allowed here.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface AutocannonRequest {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string
  }

  export interface AutocannonOptions {
    url: string
    connections?: number
    duration?: number
    amount?: number
    pipelining?: number
    headers?: Record<string, string>
    requests?: AutocannonRequest[]
  }

  export interface AutocannonResult {
    errors: number
    timeouts: number
    non2xx: number
    statusCodeStats: Record<string, { count: number }>
    latency: { p50: number, p99: number, max: number, average: number }
    requests: { average: number, total: number, sent: number }
    duration: number
  }

  export interface AutocannonInstance extends EventEmitter, PromiseLike<AutocannonResult> {
    stop (): void
  }

  function autocannon (opts: AutocannonOptions): AutocannonInstance
  export default autocannon
}
