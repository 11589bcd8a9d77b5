// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the top frames by self time; time by
// package counted inclusively (a sample counts once for every package on its stack, so "pino"
// is the whole cost of logging, including the write(2) it triggers); and self time by caller
// (each sample charged to the nearest frame of the project or a dependency above Node's own
// code, so Node's header checks count for Fastify and a hash for the function that asked for it).
// Only the steady state counts: from 1 s after the first HTTP request to the last, so startup
// (module loading, tsx) is left out. Used by `npm run bench -- --profile`; also runs alone:
// `npx tsx bench/cpuprofile-summary.ts <file.cpuprofile> [top]`.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
export interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface FrameCost { frame: string, selfMs: number, selfPct: number }
export interface PackageCost { pkg: string, inclusiveMs: number, inclusivePct: number }
export interface InclusiveCost { frame: string, inclusiveMs: number, inclusivePct: number }
export interface CallerCost { caller: string, selfMs: number, selfPct: number }
export interface ProfileSummary {
  /** The steady state summarised: ms from the profile's start. */
  fromMs: number
  toMs: number
  /** Sampled time excluding (idle): what the process spent working. */
  busyMs: number
  idleMs: number
  topSelf: FrameCost[]
  /** Frames of the project and its dependencies (not Node internals) by time spent in or under them. */
  topInclusive: InclusiveCost[]
  byPackage: PackageCost[]
  byCaller: CallerCost[]
}

/** Node's HTTP server handing a request to its listener: on the stack of all request work. */
const REQUEST_FRAME = 'parserOnIncoming'
/** Warm-up skipped after the first request (the bench warms up at least this long). */
const WARMUP_US = 1_000_000

/**
 * Native frames charged to their caller rather than listed alone: compiled regular expressions
 * and anonymous natives run on behalf of whoever called them. System calls such as `writev`
 * stay on their own line, as the kernel's share.
 */
function isCharged (frame: CallFrame): boolean {
  return frame.functionName === '' || frame.functionName.startsWith('RegExp:')
}

/** Code that is Node's own (internals, natives) rather than the project's or a dependency's. */
function isNodeOwn (frame: CallFrame): boolean {
  return frame.url.startsWith('node:') || (frame.url === '' && !frame.functionName.startsWith('('))
}

/** Where a frame's code lives: a package name, `node:internal`, a project file, or a V8 pseudo-frame. */
export function packageOf (frame: CallFrame): string {
  const { url, functionName } = frame
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const parts = url.slice(nm + 14).split('/')
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? url)
  }
  if (url.startsWith('node:')) return 'node:internal'
  const project = url.match(/\/(src|bench|emulator)\/(.+)$/)
  return project === null ? url : `${project[1] ?? ''}/${project[2] ?? ''}`
}

function frameName (frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  if (frame.url === '') return name
  const nm = frame.url.lastIndexOf('/node_modules/')
  const where = nm !== -1 ? frame.url.slice(nm + 14) : frame.url.replace(/^file:\/\/.*?\/(src|bench|emulator)\//, '$1/')
  return `${name} ${where}:${frame.lineNumber + 1}`
}

export function summarize (profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  // The steady state: samples from 1 s after the first one with a request on its stack, to the last.
  const { samples, timeDeltas } = profile
  const at = new Array<number>(samples.length)
  let t = 0
  for (let i = 0; i < samples.length; i++) { t += timeDeltas[i] ?? 0; at[i] = t }
  const underRequest = memoByNode<boolean>((id, self) => {
    const up = parent.get(id)
    return byId.get(id)?.callFrame.functionName === REQUEST_FRAME || (up !== undefined && self(up))
  })
  let first = -1
  let last = -1
  for (let i = 0; i < samples.length; i++) {
    if (!underRequest(samples[i] as number)) continue
    if (first === -1) first = i
    last = i
  }
  const fromUs = first === -1 ? 0 : (at[first] as number) + WARMUP_US
  const toUs = last === -1 ? t : at[last] as number

  // Self time: sample i lasted until sample i+1 (timeDeltas[i+1]), in microseconds.
  const selfUs = new Map<number, number>()
  for (let i = 0; i < samples.length; i++) {
    if ((at[i] as number) < fromUs || (at[i] as number) > toUs) continue
    const us = timeDeltas[i + 1] ?? 0
    const id = samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + us)
  }

  const caller = memoByNode<string>((id) => {
    const node = byId.get(id)
    if (node === undefined) return '(unknown)'
    const frame = node.callFrame
    if (frame.url === '' && !isCharged(frame)) return frame.functionName.startsWith('(') ? frame.functionName : `(native) ${frame.functionName}`
    if (!isNodeOwn(frame)) return ownerName(frame)
    // Walk up to whoever called into Node; Node's own code at the root stays Node's.
    let up = parent.get(id)
    while (up !== undefined && byId.get(up) !== undefined && isNodeOwn((byId.get(up) as ProfileNode).callFrame)) up = parent.get(up)
    const upNode = up === undefined ? undefined : byId.get(up)
    return upNode === undefined || upNode.callFrame.functionName === '(root)' ? 'node:internal' : ownerName(upNode.callFrame)
  })

  /** The names `name` gives to the frames on a node's stack (root to node), as a set. */
  const onStack = (name: (frame: CallFrame) => string | undefined): (id: number) => Set<string> => memoByNode((id, self) => {
    const up = parent.get(id)
    const set = new Set(up === undefined ? [] : self(up))
    const node = byId.get(id)
    const named = node === undefined ? undefined : name(node.callFrame)
    if (named !== undefined) set.add(named)
    return set
  })
  const stackPackages = onStack((frame) => frame.functionName === '(root)' ? undefined : packageOf(frame))
  const stackFrames = onStack((frame) => frame.url === '' || frame.url.startsWith('node:') ? undefined : frameName(frame))

  let idleUs = 0
  let busyUs = 0
  const frameUs = new Map<string, number>()
  const packageUs = new Map<string, number>()
  const inclusiveUs = new Map<string, number>()
  const callerUs = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (node === undefined) continue
    if (node.callFrame.functionName === '(idle)') { idleUs += us; continue }
    busyUs += us
    const name = frameName(node.callFrame)
    frameUs.set(name, (frameUs.get(name) ?? 0) + us)
    for (const pkg of stackPackages(id)) packageUs.set(pkg, (packageUs.get(pkg) ?? 0) + us)
    for (const frame of stackFrames(id)) inclusiveUs.set(frame, (inclusiveUs.get(frame) ?? 0) + us)
    const who = caller(id)
    callerUs.set(who, (callerUs.get(who) ?? 0) + us)
  }

  const pct = (us: number): number => busyUs === 0 ? 0 : Math.round(1000 * us / busyUs) / 10
  const ms = (us: number): number => Math.round(us / 100) / 10
  return {
    fromMs: ms(fromUs),
    toMs: ms(toUs),
    busyMs: ms(busyUs),
    idleMs: ms(idleUs),
    topSelf: [...frameUs].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([frame, us]) => ({ frame, selfMs: ms(us), selfPct: pct(us) })),
    topInclusive: [...inclusiveUs].sort((a, b) => b[1] - a[1]).slice(0, top * 2)
      .map(([frame, us]) => ({ frame, inclusiveMs: ms(us), inclusivePct: pct(us) })),
    byPackage: [...packageUs].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([pkg, us]) => ({ pkg, inclusiveMs: ms(us), inclusivePct: pct(us) })),
    byCaller: [...callerUs].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([who, us]) => ({ caller: who, selfMs: ms(us), selfPct: pct(us) }))
  }
}

/** A per-node function of the profile's call tree, computed once per node; `self` recurses. */
function memoByNode<T> (compute: (id: number, self: (id: number) => T) => T): (id: number) => T {
  const cache = new Map<number, T>()
  const self = (id: number): T => {
    if (cache.has(id)) return cache.get(id) as T
    const value = compute(id, self)
    cache.set(id, value)
    return value
  }
  return self
}

/** A dependency by package name; the project's code by function and file. */
function ownerName (frame: CallFrame): string {
  const pkg = packageOf(frame)
  if (!/^(src|bench|emulator)\//.test(pkg)) return pkg
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${pkg}`
}

export function formatSummary (summary: ProfileSummary): string {
  const lines = [`steady state ${summary.fromMs}–${summary.toMs} ms of the profile: busy ${summary.busyMs} ms, idle ${summary.idleMs} ms`, '', 'self time (% of busy)  frame']
  for (const f of summary.topSelf) lines.push(`${f.selfPct.toFixed(1).padStart(6)} %  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.frame}`)
  lines.push('', 'inclusive time by frame, project and dependencies (% of busy)')
  for (const f of summary.topInclusive) lines.push(`${f.inclusivePct.toFixed(1).padStart(6)} %  ${f.inclusiveMs.toFixed(0).padStart(7)} ms  ${f.frame}`)
  lines.push('', 'inclusive time by package (% of busy; a sample counts for every package on its stack)')
  for (const p of summary.byPackage) lines.push(`${p.inclusivePct.toFixed(1).padStart(6)} %  ${p.inclusiveMs.toFixed(0).padStart(7)} ms  ${p.pkg}`)
  lines.push('', 'self time by caller (% of busy; Node\'s own code is charged to the frame that called into it)')
  for (const c of summary.byCaller) lines.push(`${c.selfPct.toFixed(1).padStart(6)} %  ${c.selfMs.toFixed(0).padStart(7)} ms  ${c.caller}`)
  return lines.join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write('usage: npx tsx bench/cpuprofile-summary.ts <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  process.stdout.write(formatSummary(summarize(profile, Number(process.argv[3] ?? 25))) + '\n')
}
