import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import pg from 'pg'
import type { Test } from 'tap'
import type { Engine } from '../src/db/dialect.js'
import { serviceFastifyOptions } from '../src/service/fastify-options.js'
import service, { type ServiceOptions } from '../src/service/app.js'
import { CHANGE_CHECK_INTERVAL_MS } from '../src/sessions/session-lookup.js'

/** A fresh secret per test app: nothing secret is ever committed. */
export const testSecret = () => randomBytes(32).toString('base64url')

export interface TestContext {
  teardown: (fn: () => unknown) => void
}

/** A PostgreSQL server for the tests (set by test/support/run-tests.ts, which `npm test` runs). */
export const postgresUrl = process.env.TEST_POSTGRES_URL === '' ? undefined : process.env.TEST_POSTGRES_URL

/** The engines this run covers: SQLite always, PostgreSQL when a server is available. */
export const engines: Engine[] = postgresUrl === undefined ? ['sqlite'] : ['sqlite', 'postgres']

/**
 * Runs a group of tests once per engine. Without a PostgreSQL server the PostgreSQL run is
 * reported as skipped; under CI it fails instead, so CI can never skip it silently.
 */
export function forEachEngine (t: Test, fn: (t: Test, engine: Engine) => Promise<void>): void {
  for (const engine of ['sqlite', 'postgres'] as const) {
    if (engines.includes(engine)) {
      t.test(engine, async (t) => { await fn(t, engine) })
    } else if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
      t.fail(`${engine}: TEST_POSTGRES_URL is not set in CI (run the tests with npm test)`)
    } else {
      t.test(engine, { skip: 'no PostgreSQL server (TEST_POSTGRES_URL unset; npm test starts one when PostgreSQL is installed)' }, async () => {})
    }
  }
}

/**
 * A DATABASE_URL for an empty database of the engine, removed after the test: SQLite in
 * memory (or, with `shared`, in a file several connections and processes can open), or a
 * schema of its own on the PostgreSQL test server (selected by search_path).
 */
export async function freshDatabaseUrl (t: TestContext, engine: Engine, { shared = false } = {}): Promise<string> {
  if (engine === 'sqlite' && !shared) return 'sqlite::memory:'
  if (engine === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'test-db-'))
    t.teardown(async () => await rm(dir, { recursive: true, force: true }))
    return `sqlite:${join(dir, 'app.db')}`
  }
  if (postgresUrl === undefined) throw new Error('TEST_POSTGRES_URL is not set')
  const schema = `test_${randomBytes(6).toString('hex')}`
  await adminQuery(`create schema ${schema}`)
  t.teardown(async () => await adminQuery(`drop schema ${schema} cascade`))
  const url = new URL(postgresUrl)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

async function adminQuery (sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/**
 * The standalone service on a fresh database of the engine (SQLite in memory by default), bcrypt
 * at its cheapest cost. Throttling is off unless asked for: every injected request comes from one
 * address, and most tests log in far more often than a person would.
 */
export async function buildApp (t: TestContext, opts: Partial<ServiceOptions> = {}, engine: Engine = 'sqlite'): Promise<FastifyInstance> {
  const database = opts.database ?? await freshDatabaseUrl(t, engine)
  const app = Fastify(serviceFastifyOptions('silent'))
  await app.register(service, { secret: testSecret(), bcryptCost: 4, throttle: false, ...opts, database })
  // Registered after the schema's teardown, and tap runs teardowns last-in first-out: the app
  // (and its pool) closes before the schema is dropped.
  t.teardown(async () => await app.close())
  await app.ready()
  return app
}

export interface TestUser {
  username: string
  password: string
  email?: string | null
  fullName?: string | null
  disabled?: boolean
}

export const johndoe: TestUser = { username: 'johndoe', password: 'secret-password', email: 'johndoe@example.com', fullName: 'John Doe' }
export const alice: TestUser = { username: 'alice', password: 'wonderland-42', email: 'alice@example.com', fullName: 'Alice Wonderson', disabled: true }

/** Stores a user directly through the repository, as the CLI would. */
export async function createUser (app: FastifyInstance, user: TestUser): Promise<void> {
  await app.tokenAuth.users.create({ ...user, hashedPassword: await app.tokenAuth.hashPassword(user.password) })
}

export async function requestToken (app: FastifyInstance, form: Record<string, string>, { remoteAddress }: { remoteAddress?: string } = {}): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/token',
    ...(remoteAddress !== undefined && { remoteAddress }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(form).toString()
  })
}

export interface TokenPair {
  access_token: string
  token_type: 'bearer'
  expires_in: number
  refresh_token: string
}

/** Logs in through POST /token (password grant) and returns the whole token response. */
export async function loginPair (app: FastifyInstance, user: TestUser, headers: Record<string, string> = {}): Promise<TokenPair> {
  const response = await app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams({ username: user.username, password: user.password }).toString()
  })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json()
}

/** Logs in through POST /token and returns the access token. */
export async function login (app: FastifyInstance, user: TestUser): Promise<string> {
  return (await loginPair(app, user)).access_token
}

/** POST /token with grant_type=refresh_token. */
export async function refresh (app: FastifyInstance, refreshToken: string): Promise<LightMyRequestResponse> {
  return await requestToken(app, { grant_type: 'refresh_token', refresh_token: refreshToken })
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/**
 * Waits out the bound on how long an instance on a shared SQLite file may answer from its
 * memory of live sessions after another process changed them (PostgreSQL keeps no such memory).
 */
export async function otherInstancesCatchUp (): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, CHANGE_CHECK_INTERVAL_MS + 5))
}
