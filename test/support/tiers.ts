import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { repoRoot } from './entries.js'

// The test suite in tiers, each runnable alone (`npm run test:<tier>`); `npm test` runs them all.
// A test file is in-process (`unit`) unless a pattern of another tier claims it: a new file
// lands in `unit` by itself, and one that starts processes, packs or drives a browser is named
// below. test/tiers.test.ts fails when a file is claimed twice or a pattern matches nothing.

export const TIERS = ['unit', 'process', 'package', 'browser'] as const
export type Tier = typeof TIERS[number]

/** What each tier is, for the runner's usage line. */
export const TIER_DESCRIPTIONS: Record<Tier, string> = {
  unit: 'in-process unit and route tests (app.inject, fixtures in the test process)',
  process: 'real processes: the server, its workers, the CLI, nginx, systemd, restore, durability',
  package: 'the built tree, the bundle, the packed tarball in a host, the production install, the code blocks of the docs',
  browser: 'Chromium against the docs pages and CORS'
}

/** The files of the tiers other than `unit`: paths, or folders ending in `/`. */
export const CLAIMS: Record<Exclude<Tier, 'unit'>, readonly string[]> = {
  process: [
    'test/deploy/',
    'test/plugins/openapi-lint.test.ts',
    'test/src/cli.test.ts',
    'test/src/dev.test.ts',
    'test/src/durability.test.ts',
    'test/src/metrics-workers.test.ts',
    'test/src/metrics.test.ts',
    'test/src/migrations.test.ts',
    'test/src/redis-stall.test.ts',
    'test/src/restore.test.ts',
    'test/src/server.test.ts',
    'test/src/shutdown.test.ts',
    'test/src/storage-faults.test.ts',
    'test/src/workers.test.ts'
  ],
  package: [
    'test/docs-blocks.test.ts',
    'test/package/',
    'test/src/bundle.test.ts'
  ],
  browser: [
    'test/e2e/'
  ]
}

/** What a tier's files need before they run. */
export const NEEDS: Record<Tier, { build: boolean }> = {
  unit: { build: false },
  process: { build: true },
  package: { build: true },
  browser: { build: false }
}

/** Every file under test/ whose name says it is a test, relative to the repository root; none in the test tools' packages. */
export function testLikeFiles (): string[] {
  const found: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile() && /\.(test|spec)\.[cm]?[jt]sx?$/.test(entry.name)) found.push(relative(repoRoot, path).split('\\').join('/'))
    }
  }
  walk(join(repoRoot, 'test'))
  return found.sort()
}

/** The files tap runs: test/**\/*.test.ts (package.json's tap.include), outside test/types. */
export const isTapFile = (file: string) => file.startsWith('test/') && file.endsWith('.test.ts') && !file.startsWith('test/types/')

const claims = (pattern: string, file: string) => pattern.endsWith('/') ? file.startsWith(pattern) : file === pattern

/** The tiers a file belongs to: exactly one for every tap file, when the lists are right. */
export function tiersOf (file: string): Tier[] {
  if (!isTapFile(file)) return []
  const claimed = (Object.keys(CLAIMS) as Array<keyof typeof CLAIMS>).filter((tier) => CLAIMS[tier].some((pattern) => claims(pattern, file)))
  return claimed.length === 0 ? ['unit'] : claimed
}

/** The tap files of the tiers, in tier order. */
export function filesOf (tiers: readonly Tier[], files = testLikeFiles()): string[] {
  return files.filter((file) => tiersOf(file).some((tier) => tiers.includes(tier)))
}

/**
 * Test files share processes: before its first assertion a test process spends more CPU on
 * loading the service and tap's module hooks than most files spend on their tests. A tier's
 * files run a folder at a time, at most GROUP_SIZE of them in one process, imported in order
 * (1: a process per file, for the long installs and browser runs); a file named alone runs in
 * a process of its own. Process groups are smaller: each of their files runs for a while.
 */
export const GROUP_SIZE: Record<Tier, number> = { unit: 8, process: 4, package: 1, browser: 1 }

/** The order tap starts them in: the longest first, so that short in-process groups fill the end of the run. */
export const RUN_ORDER: readonly Tier[] = ['process', 'package', 'browser', 'unit']

/**
 * Files that run in one process, by folder, at most `size` each. A folder's files are dealt out
 * in turn, so that neighbours (often alike in cost) land in different groups.
 */
export function groupsOf (files: readonly string[], size: number): string[][] {
  const byFolder = new Map<string, string[]>()
  for (const file of files) {
    const folder = file.slice(0, file.lastIndexOf('/'))
    byFolder.set(folder, [...byFolder.get(folder) ?? [], file])
  }
  return [...byFolder.values()].flatMap((members) => {
    const count = Math.ceil(members.length / size)
    return Array.from({ length: count }, (_, i) => members.filter((_, j) => j % count === i))
  })
}

/** One file tap runs: a generated file (named for its place in the run) importing `members`. */
export interface RunEntry {
  /** NN-name.test.ts: tap sorts the files it is given by name, so the number keeps RUN_ORDER. */
  name: string
  tier: Tier
  members: string[]
  /** A file that runs in a process of its own, keeping its own hang limit. */
  alone: boolean
}

/** The files tap runs, in RUN_ORDER: each tier's groups, numbered in turn. */
export function runEntries (files: readonly string[]): RunEntry[] {
  let count = 0
  return RUN_ORDER.flatMap((tier) => groupsOf(files.filter((file) => tiersOf(file).includes(tier)), GROUP_SIZE[tier]).map((members) => {
    const alone = members.length === 1 && GROUP_SIZE[tier] === 1
    const first = members[0] ?? ''
    const label = alone ? first.slice('test/'.length, -'.test.ts'.length) : first.slice(0, first.lastIndexOf('/'))
    return { name: `${String(++count).padStart(2, '0')}-${label.replaceAll('/', '-')}.test.ts`, tier, members, alone }
  }))
}

/** Patterns of CLAIMS that match no file: a renamed or deleted test left its entry behind. */
export function staleClaims (files = testLikeFiles()): string[] {
  return Object.values(CLAIMS).flat().filter((pattern) => !files.some((file) => isTapFile(file) && claims(pattern, file)))
}
