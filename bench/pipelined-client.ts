// A small HTTP/1.1 client for the stampede: N keep-alive sockets, each writing all of its GET
// requests at once (HTTP pipelining), so that sockets × depth requests are in flight together
// without 10,000 sockets on a 2-core machine. autocannon cannot do this: with `amount` and
// `pipelining` it closes a socket after its first response. Responses are parsed just enough
// (status line, Content-Length; the service never sends chunked bodies) to count and time them.
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

export interface PipelinedSpec {
  host: string
  port: number
  sockets: number
  /** Requests per socket, all written at once. */
  depth: number
  /** Raw request heads by index (0 … sockets×depth−1), each ending in \r\n\r\n. */
  request: (index: number) => string
  timeoutMs: number
}

export interface PipelinedResult {
  firstWriteAt: number
  lastResponseAt: number
  statuses: Record<string, number>
  /** Latency of each response, from its socket's write to its end. */
  latencyMs: Float64Array
  /** Requests that got no response (socket error or the timeout). */
  unanswered: number
}

const HEAD_END = Buffer.from('\r\n\r\n')
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i

export async function runPipelined (spec: PipelinedSpec): Promise<PipelinedResult> {
  const total = spec.sockets * spec.depth
  const latencyMs = new Float64Array(total)
  const statuses: Record<string, number> = {}
  let answered = 0
  let lost = 0
  let firstWriteAt = Infinity
  let lastResponseAt = 0
  const sockets: Socket[] = []

  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, spec.timeoutMs)
    const maybeDone = (): void => {
      if (answered + lost >= total) { clearTimeout(timer); resolve() }
    }
    for (let s = 0; s < spec.sockets; s++) {
      const socket = connect(spec.port, spec.host)
      sockets.push(socket)
      let writtenAt = 0
      let got = 0
      let buffer: Buffer = Buffer.alloc(0)
      socket.setNoDelay(true)
      socket.on('connect', () => {
        let heads = ''
        for (let d = 0; d < spec.depth; d++) heads += spec.request(s * spec.depth + d)
        writtenAt = performance.now()
        if (writtenAt < firstWriteAt) firstWriteAt = writtenAt
        socket.write(heads)
      })
      socket.on('data', (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
        for (;;) {
          const end = buffer.indexOf(HEAD_END)
          if (end === -1) break
          const head = buffer.subarray(0, end).toString('latin1')
          const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0)
          if (buffer.length < end + 4 + length) break
          buffer = buffer.subarray(end + 4 + length)
          const status = head.slice(9, 12)
          statuses[status] = (statuses[status] ?? 0) + 1
          const now = performance.now()
          latencyMs[answered++] = now - writtenAt
          if (now > lastResponseAt) lastResponseAt = now
          if (++got === spec.depth) socket.end()
        }
        maybeDone()
      })
      // An error is followed by 'close'; a close before every response arrived loses the rest.
      socket.on('error', () => {})
      socket.on('close', () => {
        lost += spec.depth - got
        got = spec.depth
        maybeDone()
      })
    }
  })
  for (const socket of sockets) socket.destroy()
  return { firstWriteAt, lastResponseAt, statuses, latencyMs: latencyMs.subarray(0, answered), unanswered: total - answered }
}
