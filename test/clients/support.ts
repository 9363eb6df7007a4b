import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Engine } from '../../src/db/dialect.js'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service, { type ServiceOptions } from '../../src/service/app.js'
import { freshDatabaseUrl, testSecret, type TestContext } from '../helper.js'

// The service as a real client meets it: listening on loopback (an ephemeral port), driven over
// HTTP by fetch and by OAuth2 client libraries, never through inject.

export interface ListeningService {
  app: FastifyInstance
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  baseUrl: string
}

/**
 * Starts the service on 127.0.0.1, port 0, closed by the test's teardown. Without a `database`,
 * a fresh one of the engine (SQLite in memory by default); without a `secret`, a fresh one. Two
 * instances of one deployment are two calls with the same `secret` and `database`.
 */
export async function startService (t: TestContext, opts: Partial<ServiceOptions> = {}, engine: Engine = 'sqlite'): Promise<ListeningService> {
  const database = opts.database ?? await freshDatabaseUrl(t, engine)
  const app = Fastify(serviceFastifyOptions('silent'))
  // Registered after the database's own teardown: tap runs teardowns last-in first-out, so the
  // app (and its pool) closes before a PostgreSQL schema is dropped or a SQLite file removed.
  t.teardown(async () => await app.close())
  await app.register(service, { secret: testSecret(), bcryptCost: 4, ...opts, database })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { app, baseUrl: `http://127.0.0.1:${port}` }
}

export interface HttpAnswer {
  status: number
  headers: Headers
  body: string
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: Record<string, unknown> | undefined
}

async function answer (response: Response): Promise<HttpAnswer> {
  const body = await response.text()
  let json: Record<string, unknown> | undefined
  try {
    json = body === '' ? undefined : JSON.parse(body) as Record<string, unknown>
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, body, json }
}

/** POST of a form (application/x-www-form-urlencoded), as an OAuth2 client sends one. */
export async function postForm (baseUrl: string, path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return await answer(await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString()
  }))
}

/** A request with a bearer token (and a JSON body when given). */
export async function withBearer (baseUrl: string, method: string, path: string, token: string, json?: unknown): Promise<HttpAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (json !== undefined) headers['content-type'] = 'application/json'
  return await answer(await fetch(`${baseUrl}${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) }))
}

/** GET /users/me/ with the access token. */
export async function me (baseUrl: string, accessToken: string): Promise<HttpAnswer> {
  return await withBearer(baseUrl, 'GET', '/users/me/', accessToken)
}

/** POST /token with grant_type=refresh_token. */
export async function refreshOverHttp (baseUrl: string, refreshToken: string): Promise<HttpAnswer> {
  return await postForm(baseUrl, '/token', { grant_type: 'refresh_token', refresh_token: refreshToken })
}

export interface Pair {
  access_token: string
  refresh_token: string
  expires_in: number
  token_type: string
}

/** The token pair of a 200 token response, or an error naming what came instead. */
export function pairOf (res: HttpAnswer): Pair {
  const body = res.json
  if (res.status !== 200 || body === undefined || typeof body.access_token !== 'string' || typeof body.refresh_token !== 'string') {
    throw new Error(`expected a token pair, got ${res.status} ${res.body}`)
  }
  return body as unknown as Pair
}

/** Logs in over HTTP (password grant) and returns the pair. */
export async function loginOverHttp (baseUrl: string, username: string, password: string): Promise<Pair> {
  return pairOf(await postForm(baseUrl, '/token', { username, password }))
}

/** The header an ended session's access token is refused with (RFC 6750 §3.1). */
export const INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
