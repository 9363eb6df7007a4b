import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './harness.js'

// The service's entry points as the process tests run them: src/service/server.ts and src/service/bin.ts
// bundled once per test run from the compilation's output (build-entries.ts) as `npm start`'s
// bundle is, packages included. Starting one costs a node start instead of a TypeScript compile and the
// loading of hundreds of modules.

export { repoRoot }
export const ENTRIES_DIR = join(repoRoot, '.tap', 'entries')
export const ENTRIES = { server: 'src/service/server.ts', cli: 'src/service/bin.ts' } as const

/**
 * node's arguments to run an entry: its bundle when tap built one, else the source through
 * the tsx loader (a test file run by hand outside tap).
 */
export function entryArgs (entry: keyof typeof ENTRIES): string[] {
  const bundle = join(ENTRIES_DIR, `${entry}.js`)
  return existsSync(bundle) ? [bundle] : ['--import', 'tsx', ENTRIES[entry]]
}
