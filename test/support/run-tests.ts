import { spawn } from 'node:child_process'
import { findPostgresBin, startPostgres, type PostgresServer } from './postgres.js'

// `npm test`: runs tap with TEST_POSTGRES_URL pointing at a throwaway PostgreSQL server, so that
// every engine-parameterised test runs against both SQLite and PostgreSQL. Without PostgreSQL
// binaries the PostgreSQL half is skipped, and says so (under CI the tests fail instead).

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

const tap = spawn('node_modules/.bin/tap', process.argv.slice(2), { env, stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { tap.kill(signal) })
const code = await new Promise<number>((resolve) => tap.on('exit', (status, signal) => { resolve(status ?? (signal === null ? 1 : 128)) }))
await server?.destroy()
if (server === undefined && env.TEST_POSTGRES_URL === undefined) {
  process.stdout.write('Note: the PostgreSQL half of the suite was skipped (no PostgreSQL server binaries).\n')
}
process.exitCode = code
