import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// `npm run bench:tricks`: each speed trick of the authenticated path switched off in turn, in
// a copy of the committed tree, measured by `npm run bench -- --hot-path` beside the tree as
// it is. A trick earns its place when switching it off moves a figure beyond the run-to-run
// spread (bench/README.md records both).

interface Trick {
  name: string
  file: string
  /** The code that is the trick, and what it becomes without it. */
  find: string
  replace: string
}

const TRICKS: Trick[] = [
  {
    name: 'verified-token cache',
    file: 'src/tokens/verified-tokens.ts',
    find: 'const hit = entries.get(token)',
    replace: 'const hit = undefined as VerifiedClaims | undefined'
  },
  {
    name: 'session memory (change watch)',
    file: 'src/sessions/session-lookup.ts',
    find: 'return changed === undefined ? lookup : remembering(lookup, changed)',
    replace: 'return lookup'
  },
  {
    name: 'synchronous SQLite reads (and so the session memory)',
    file: 'src/db/database.ts',
    find: 'export function preparedFirstRow<R> (db: Kysely<any>, compiled: CompiledQuery<R>): (parameters: readonly unknown[]) => MaybePromise<R | undefined> {\n  const { sqlite } = capabilitiesOf(db)',
    replace: 'export function preparedFirstRow<R> (db: Kysely<any>, compiled: CompiledQuery<R>): (parameters: readonly unknown[]) => MaybePromise<R | undefined> {\n  const sqlite = undefined as SQLite.Database | undefined'
  },
  {
    name: 'statement cache',
    file: 'src/db/database.ts',
    find: 'let statement = statements.get(text)',
    replace: 'let statement = undefined as SQLite.Statement | undefined'
  }
]

const repo = new URL('..', import.meta.url).pathname
const quick = process.argv.includes('--quick') ? ['--quick'] : []

async function copyOfHead (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-trick-'))
  execFileSync('sh', ['-c', `git archive HEAD | tar -x -C '${dir}'`], { cwd: repo })
  await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

async function measure (dir: string): Promise<Record<string, number>> {
  execFileSync('npm', ['run', '--silent', 'bench', '--', '--hot-path', ...quick], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] })
  return JSON.parse(await readFile(join(dir, 'bench', 'results', 'hot-path.json'), 'utf8')) as Record<string, number>
}

const rows: Array<{ name: string, figures: Record<string, number> }> = []
for (const trick of [undefined, ...TRICKS]) {
  const dir = await copyOfHead()
  try {
    if (trick !== undefined) {
      const path = join(dir, trick.file)
      const text = await readFile(path, 'utf8')
      if (!text.includes(trick.find)) throw new Error(`${trick.file} no longer holds the ${trick.name}: update bench/speed-tricks.ts`)
      await writeFile(path, text.replace(trick.find, trick.replace))
    }
    process.stderr.write(`bench:tricks: ${trick === undefined ? 'as committed' : `without the ${trick.name}`}\n`)
    rows.push({ name: trick === undefined ? 'as committed' : `without the ${trick.name}`, figures: await measure(dir) })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
const pct = (n: number | undefined) => `${((n ?? 0) * 100).toFixed(1)} %`
process.stdout.write('\n| Variant | /users/me/ ÷ ceiling, throughput | by CPU per request | µs CPU per /users/me/ | µs CPU per refresh |\n| --- | --- | --- | --- | --- |\n')
for (const { name, figures } of rows) {
  process.stdout.write(`| ${name} | ${pct(figures.ratio)} | ${pct(figures.ratioByCpu)} | ${(figures.usersMeCpuMicros ?? 0).toFixed(1)} | ${(figures.refreshCpuMicros ?? 0).toFixed(0)} |\n`)
}
