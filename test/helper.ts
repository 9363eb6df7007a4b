import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import service, { type ServiceOptions } from '../src/service.js'

/** A fresh secret per test app: nothing secret is ever committed. */
export const testSecret = () => randomBytes(32).toString('base64url')

export interface TestContext {
  teardown: (fn: () => unknown) => void
}

/** The standalone service on a fresh in-memory database, bcrypt at its cheapest cost. */
export async function buildApp (t: TestContext, opts: Partial<ServiceOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(service, { secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4, ...opts })
  await app.ready()
  t.teardown(async () => await app.close())
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
  await app.users.create({ ...user, hashedPassword: await app.passwords.hash(user.password) })
}

export async function requestToken (app: FastifyInstance, form: Record<string, string>): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(form).toString()
  })
}

/** Logs in through POST /token and returns the access token. */
export async function login (app: FastifyInstance, user: TestUser): Promise<string> {
  const response = await requestToken(app, { username: user.username, password: user.password })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json().access_token
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
