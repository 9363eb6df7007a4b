import { spawn } from 'node:child_process'
import { findPostgresBin, startPostgres, type PostgresServer } from './postgres.js'

// `npm test`: the static checks (`npm run check`: tsc, eslint, the type tests) side by side with
// tap, which runs with TEST_POSTGRES_URL pointing at a throwaway PostgreSQL server, so that
// every engine-parameterised test runs against both SQLite and PostgreSQL. Without PostgreSQL
// binaries the PostgreSQL half is skipped, and says so (under CI the tests fail instead).
// The checks' output is held back and printed after tap's, so neither interleaves the other.

let server: PostgresServer | undefined
const env = { ...process.env }
if (env.TEST_POSTGRES_URL === undefined || env.TEST_POSTGRES_URL === '') {
  if (findPostgresBin() === undefined) {
    process.stdout.write('PostgreSQL server binaries not found (apt-get install postgresql): the PostgreSQL half of the suite is SKIPPED.\n')
  } else {
    server = await startPostgres()
    env.TEST_POSTGRES_URL = server.url
    process.stdout.write(`Throwaway PostgreSQL for the tests at ${server.url}\n`)
  }
}

const exitCode = (status: number | null, signal: NodeJS.Signals | null) => status ?? (signal === null ? 1 : 128)

let checkOutput = ''
const check = spawn('npm', ['run', '--silent', 'check'], { stdio: ['ignore', 'pipe', 'pipe'] })
check.stdout.setEncoding('utf8').on('data', (chunk: string) => { checkOutput += chunk })
check.stderr.setEncoding('utf8').on('data', (chunk: string) => { checkOutput += chunk })
const checked = new Promise<number>((resolve) => check.on('close', (status, signal) => { resolve(exitCode(status, signal)) }))

const tap = spawn('node_modules/.bin/tap', process.argv.slice(2), { env, stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { tap.kill(signal); check.kill(signal) })
}
const tapCode = await new Promise<number>((resolve) => tap.on('exit', (status, signal) => { resolve(exitCode(status, signal)) }))
await server?.destroy()
if (server === undefined && env.TEST_POSTGRES_URL === undefined) {
  process.stdout.write('Note: the PostgreSQL half of the suite was skipped (no PostgreSQL server binaries).\n')
}

const checkCode = await checked
process.stdout.write(checkCode === 0
  ? 'Static checks (npm run check: tsc, eslint, type tests): passed\n'
  : `Static checks (npm run check: tsc, eslint, type tests) FAILED, exit ${checkCode}:\n${checkOutput}\n`)
process.exitCode = tapCode !== 0 ? tapCode : checkCode
