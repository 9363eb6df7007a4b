import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Test } from 'tap'
import { createDatabase } from '../../src/db/database.js'
import type { Engine } from '../../src/db/dialect.js'
import type { AuthDatabase } from '../../src/db/types.js'
import type { ServiceOptions } from '../../src/service/app.js'
import { bearer, buildApp, createUser, freshDatabaseUrl, requestToken, type TestUser } from '../helper.js'

// TOTP in the tests: codes computed by Debian's oathtool from the secret the enrolment answered,
// never by the library the service uses.

const run = promisify(execFile)

/** The MFA grant's `grant_type`, as the README documents it. */
export const MFA_GRANT = 'urn:fastify-token-auth:grant-type:mfa'

/** The code of the time step `steps` away from now (-1: the last one, 1: the next), by oathtool. */
export async function oathtool (secret: string, steps = 0): Promise<string> {
  const at = new Date(Date.now() + steps * 30_000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
  const { stdout } = await run('oathtool', ['--totp', '--base32', `--now=${at}`, secret])
  return stdout.trim()
}

/** A code no step near now has: one of the 10^6, checked against oathtool's window of five steps. */
export async function wrongCode (secret: string): Promise<string> {
  const { stdout } = await run('oathtool', ['--totp', '--base32', '--window=4', `--now=${new Date(Date.now() - 60_000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`, secret])
  const near = new Set(stdout.trim().split('\n'))
  for (let n = 0; ; n++) {
    const code = String((123457 + n * 7919) % 1_000_000).padStart(6, '0')
    if (!near.has(code)) return code
  }
}

export interface MfaApp {
  app: FastifyInstance
  /** The database the app runs on, for what only the tables show. */
  db: Kysely<AuthDatabase>
}

/** The service on a fresh database of `engine` that the test can read too. */
export async function mfaApp (t: Test, engine: Engine, opts: Partial<ServiceOptions> = {}): Promise<MfaApp> {
  const database = await freshDatabaseUrl(t, engine, { shared: true })
  const app = await buildApp(t, { ...opts, database }, engine)
  const db = createDatabase(database) as Kysely<AuthDatabase>
  t.teardown(async () => await db.destroy())
  return { app, db }
}

export interface Enrolled {
  secret: string
  otpauthUri: string
  recoveryCodes: string[]
  /** The access token of the session that enrolled (it goes on). */
  access: string
}

/**
 * Creates `user` and turns TOTP on for it, confirming with the code of the last time step: the
 * codes of now and the next step are left for the test.
 */
export async function enrolled (app: FastifyInstance, user: TestUser): Promise<Enrolled> {
  await createUser(app, user)
  return await enrol(app, user)
}

/** Turns TOTP on for an existing account, as `enrolled` does. */
export async function enrol (app: FastifyInstance, user: { username: string, password: string }): Promise<Enrolled> {
  const login = await requestToken(app, { username: user.username, password: user.password })
  const access: string = login.json().access_token
  const start = await app.inject({ method: 'POST', url: '/users/me/mfa/totp', headers: bearer(access), payload: { password: user.password } })
  if (start.statusCode !== 200) throw new Error(`enrolment: ${start.statusCode} ${start.body}`)
  const { secret, otpauth_uri: otpauthUri } = start.json()
  const confirm = await app.inject({ method: 'POST', url: '/users/me/mfa/totp/verify', headers: bearer(access), payload: { code: await oathtool(secret, -1) } })
  if (confirm.statusCode !== 200) throw new Error(`confirmation: ${confirm.statusCode} ${confirm.body}`)
  return { secret, otpauthUri, recoveryCodes: confirm.json().recovery_codes, access }
}

/** The password step of a login with TOTP: the `mfa_token` of its 403. */
export async function mfaToken (app: FastifyInstance, user: TestUser): Promise<string> {
  const res = await requestToken(app, { username: user.username, password: user.password })
  if (res.statusCode !== 403) throw new Error(`password step: ${res.statusCode} ${res.body}`)
  return res.json().mfa_token
}

/** The second step. */
export async function secondStep (app: FastifyInstance, form: Record<string, string>) {
  return await requestToken(app, { grant_type: MFA_GRANT, ...form })
}

/** The claims of a JWT, decoded (not verified: the service verified it). */
export function claimsOf (jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'))
}
