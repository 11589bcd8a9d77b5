// tap coverage map: tests that spawn the service, the demo or the emulator CLI as child
// processes contribute no coverage. Those children run the TypeScript through tsx, whose output
// maps differently from tap's own loader, and merging both corrupts the per-line report. What
// they test is the process and the wire; the lines are covered by the in-process tests.
const SPAWNING = new Set([
  'test/server.test.ts',
  'test/scripts/demo.test.ts',
  'test/emulator/main.test.ts',
  'test/browser/demo-page.test.ts'
])

export default function coverageMap (testFile) {
  return SPAWNING.has(testFile.replace(/\\/g, '/')) ? null : []
}
