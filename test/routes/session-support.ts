import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Kysely } from 'kysely'
import type { Test } from 'tap'
import type { AuthDatabase } from '../../src/db/types.js'
import type { ItemsDatabase } from '../../src/service/items/items-repository.js'
import { bearer, refresh, type TokenPair } from '../helper.js'

// What the session and account route tests share: the service's database, and whether a
// session works.

export const dbOf = (app: FastifyInstance) => app.db as Kysely<AuthDatabase & ItemsDatabase>

export const me = async (app: FastifyInstance, pair: TokenPair): Promise<LightMyRequestResponse> => await app.inject({ url: '/users/me/', headers: bearer(pair.access_token) })

/** A session that works: its access token is admitted, its refresh token refreshes (and the fresh pair is what is returned). */
export async function assertAlive (t: Test, app: FastifyInstance, pair: TokenPair, what: string): Promise<TokenPair> {
  t.equal((await me(app, pair)).statusCode, 200, `${what}: its access token works`)
  const res = await refresh(app, pair.refresh_token)
  t.equal(res.statusCode, 200, `${what}: its refresh token works`)
  return res.statusCode === 200 ? res.json() : pair
}

/** A session that has ended: its access token gets invalid_token, its refresh token invalid_grant. */
export async function assertEnded (t: Test, app: FastifyInstance, pair: TokenPair, what: string): Promise<void> {
  const res = await me(app, pair)
  t.equal(res.statusCode, 401, `${what}: its access token is refused`)
  t.same(res.json(), { detail: 'Could not validate credentials' }, `${what}: body`)
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', `${what}: WWW-Authenticate`)
  const refreshed = await refresh(app, pair.refresh_token)
  t.equal(refreshed.statusCode, 400, `${what}: its refresh token is refused`)
  t.equal(refreshed.json().error, 'invalid_grant', `${what}: invalid_grant`)
}
