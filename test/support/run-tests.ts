import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { findPostgresBin, startPostgres, type PostgresServer } from './postgres.js'
import { filesOf, NEEDS, TIER_DESCRIPTIONS, TIERS, tiersOf, type Tier } from './tiers.js'

// `npm test` and the tier scripts: `tsx test/support/run-tests.ts [tier…] [tap argument…]`.
// Without a tier it runs every tier and the static checks: the one compilation (compile.ts:
// type check and emit), eslint, and the type tests on the emitted declarations. With tiers, only
// their files (test/support/tiers.ts); other arguments go to tap, and files there run alone
// (built first when their tier needs the build).
// Tap runs with TEST_POSTGRES_URL pointing at a throwaway PostgreSQL server, so that every
// engine-parameterised test runs against both SQLite and PostgreSQL. Without PostgreSQL
// binaries the PostgreSQL half is skipped, and says so (under CI the tests fail instead).
// The checks' output is held back and printed after tap's, so neither interleaves the other.

const args = process.argv.slice(2)
if (args.includes('--help')) {
  process.stdout.write(`usage: run-tests.ts [tier…] [tap argument…]\n${TIERS.map((tier) => `  ${tier.padEnd(8)} ${TIER_DESCRIPTIONS[tier]}`).join('\n')}\n`)
  process.exit(0)
}
const named = args.filter((arg): arg is Tier => (TIERS as readonly string[]).includes(arg))
const tapArgs = args.filter((arg) => !(TIERS as readonly string[]).includes(arg))
const fileArgs = tapArgs.filter((arg) => arg.endsWith('.ts') && existsSync(arg))
// Neither a tier nor a file: everything, the static checks included.
const everything = named.length === 0 && fileArgs.length === 0
const tiers: readonly Tier[] = named.length === 0 ? TIERS : named
const files = fileArgs.length > 0 ? [] : filesOf(tiers)
const runTiers = fileArgs.length > 0 ? fileArgs.flatMap((file) => tiersOf(file.replace(/^\.\//, ''))) : tiers
const needsBuild = everything || runTiers.some((tier) => NEEDS[tier].build)

const exitCode = (status: number | null, signal: NodeJS.Signals | null) => status ?? (signal === null ? 1 : 128)
const children = new Set<ReturnType<typeof spawn>>()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { for (const child of children) child.kill(signal) })
}

/** Runs a command to its end; its output is kept (`quiet`) or shown. */
async function command (file: string, argv: string[], opts: { env?: NodeJS.ProcessEnv, quiet?: boolean } = {}): Promise<{ code: number, output: string }> {
  const child = spawn(file, argv, { env: opts.env ?? process.env, stdio: opts.quiet === true ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
  children.add(child)
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const code = await new Promise<number>((resolve) => child.on('close', (status, signal) => { resolve(exitCode(status, signal)) }))
  children.delete(child)
  return { code, output }
}

let server: PostgresServer | undefined
const env = { ...process.env }
const postgres = (async () => {
  if (env.TEST_POSTGRES_URL !== undefined && env.TEST_POSTGRES_URL !== '') return
  if (findPostgresBin() === undefined) {
    process.stdout.write('PostgreSQL server binaries not found (apt-get install postgresql): the PostgreSQL half of the suite is SKIPPED.\n')
    return
  }
  server = await startPostgres()
  env.TEST_POSTGRES_URL = server.url
  process.stdout.write(`Throwaway PostgreSQL for the tests at ${server.url}\n`)
})()

// eslint needs no build: it starts at once, beside PostgreSQL and the compilation.
const lint = everything ? command('npm', ['run', '--silent', 'lint'], { quiet: true }) : undefined
const checks: Array<Promise<{ name: string, code: number, output: string }>> = []
if (lint !== undefined) checks.push(lint.then((result) => ({ name: 'eslint', ...result })))

if (needsBuild) {
  const [{ compile }, { buildEntries }, { makeBuiltTree }] = await Promise.all([
    import('./compile.js'), import('./build-entries.js'), import('./built-tree.js')
  ])
  const compiled = await compile()
  await Promise.all([buildEntries(compiled), makeBuiltTree(compiled)])
  if (everything) {
    const errors = compiled.buildErrors + compiled.testErrors
    checks.push(Promise.resolve({ name: 'tsc (tsconfig.json: sources, tests, bench)', code: errors === '' ? 0 : 1, output: errors }))
    // The type tests read the declarations this compilation emitted to dist/.
    checks.push(command('npm', ['run', '--silent', 'test:types:built'], { quiet: true }).then((result) => ({ name: 'type tests', ...result })))
  }
}
env.TEST_BUILD = 'done'
await postgres

const tap = await command('node_modules/.bin/tap', [...tapArgs, ...files], { env })
await server?.destroy()
if (server === undefined && env.TEST_POSTGRES_URL === undefined) {
  process.stdout.write('Note: the PostgreSQL half of the suite was skipped (no PostgreSQL server binaries).\n')
}

let checkCode = 0
for (const check of await Promise.all(checks)) {
  process.stdout.write(check.code === 0 ? `Static check passed: ${check.name}\n` : `Static check FAILED: ${check.name}, exit ${check.code}:\n${check.output}\n`)
  if (check.code !== 0) checkCode = check.code
}
process.exitCode = tap.code !== 0 ? tap.code : checkCode
