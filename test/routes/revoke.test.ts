import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp, createUser, forEachEngine, loginPair, refresh, type TestUser, type TokenPair } from '../helper.js'
import { assertAlive, assertEnded, dbOf } from './session-support.js'

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).sid

let userCount = 0
/** A user of its own for a test, on an app the tests of a group share. */
async function someone (app: FastifyInstance): Promise<TestUser> {
  const user = { username: `revoker${++userCount}`, password: `password-${userCount}` }
  await createUser(app, user)
  return user
}

async function revoke (app: FastifyInstance, form: Record<string, string>, url = '/revoke'): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(form).toString()
  })
}

/** RFC 7009 §2.2: 200 with nothing in it, and never cached. */
function assertRevoked (t: Test, res: LightMyRequestResponse, what: string) {
  t.equal(res.statusCode, 200, `${what}: 200`)
  t.equal(res.body, '', `${what}: an empty body`)
  t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store`)
}

function assertInvalidRequest (t: Test, res: LightMyRequestResponse, what: string) {
  t.equal(res.statusCode, 400, `${what}: 400`)
  t.equal(res.headers['cache-control'], 'no-store', `${what}: no-store`)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['detail', 'error', 'error_description'], `${what}: the error keys`)
  t.equal(body.error, 'invalid_request', `${what}: invalid_request`)
  t.equal(body.error_description, body.detail, `${what}: error_description is the detail`)
}

forEachEngine(t, async (t, engine) => {
  const app = await buildApp(t, {}, engine)
  const db = dbOf(app)

  // Which token is presented, and with which hint (undefined: none).
  const cases: Array<[string, 'refresh_token' | 'access_token', string | undefined]> = [
    ['a refresh token without a hint', 'refresh_token', undefined],
    ['a refresh token hinted refresh_token', 'refresh_token', 'refresh_token'],
    ['a refresh token hinted access_token (the wrong hint)', 'refresh_token', 'access_token'],
    ['a refresh token with an unknown hint', 'refresh_token', 'id_token'],
    ['an access token without a hint', 'access_token', undefined],
    ['an access token hinted access_token', 'access_token', 'access_token'],
    ['an access token hinted refresh_token (the wrong hint)', 'access_token', 'refresh_token'],
    ['an access token with an unknown hint', 'access_token', 'banana']
  ]
  for (const [name, kind, hint] of cases) {
    t.test(`${name} ends its session`, async (t) => {
      const user = await someone(app)
      const other = await someone(app)
      const target = await loginPair(app, user)
      const sibling = await loginPair(app, user)
      const others = await loginPair(app, other)
      const form: Record<string, string> = { token: target[kind] }
      if (hint !== undefined) form.token_type_hint = hint
      assertRevoked(t, await revoke(app, form), name)
      await assertEnded(t, app, target, 'the revoked session')
      t.notOk(await db.selectFrom('sessions').select('id').where('id', '=', sidOf(target.access_token)).executeTakeFirst(), 'its row is gone')
      await assertAlive(t, app, sibling, 'another session of the user')
      await assertAlive(t, app, others, "another user's session")
    })
  }

  t.test('a rotated refresh token ends the session it was spent in; a fresh one too', async (t) => {
    const user = await someone(app)
    const first = await loginPair(app, user)
    const rotated: TokenPair = (await refresh(app, first.refresh_token)).json()
    assertRevoked(t, await revoke(app, { token: first.refresh_token, token_type_hint: 'refresh_token' }), 'the spent one')
    await assertEnded(t, app, rotated, 'its session')
    const second = await loginPair(app, user)
    const newest: TokenPair = (await refresh(app, second.refresh_token)).json()
    assertRevoked(t, await revoke(app, { token: newest.refresh_token }), 'the newest one')
    await assertEnded(t, app, newest, 'the other session')
  })

  t.test('an access token of a session refreshed since still ends it', async (t) => {
    const first = await loginPair(app, await someone(app))
    const rotated: TokenPair = (await refresh(app, first.refresh_token)).json()
    assertRevoked(t, await revoke(app, { token: first.access_token, token_type_hint: 'access_token' }), 'the older access token')
    await assertEnded(t, app, rotated, 'the session')
  })

  t.test('an unknown, garbage or already revoked token is 200 too, and ends nothing', async (t) => {
    const user = await someone(app)
    const bystander = await loginPair(app, user)
    const gone = await loginPair(app, user)
    assertRevoked(t, await revoke(app, { token: gone.refresh_token }), 'a first revocation')
    const tokens: Array<[string, string]> = [
      ['an unknown refresh-shaped token', randomBytes(32).toString('base64url')],
      ['garbage', 'garbage'],
      ['a JWT-shaped token', 'a.b.c'],
      ['a forged JWT', `${gone.access_token.split('.').slice(0, 2).join('.')}.${randomBytes(32).toString('base64url')}`],
      ['a long token', 'x'.repeat(4000)],
      ['a token with spaces and symbols', 'not a token; drop table sessions; --'],
      ['the revoked refresh token', gone.refresh_token],
      ['the revoked session\'s access token', gone.access_token]
    ]
    for (const [what, token] of tokens) {
      for (const hint of [undefined, 'refresh_token', 'access_token']) {
        assertRevoked(t, await revoke(app, hint === undefined ? { token } : { token, token_type_hint: hint }), `${what}, hint ${String(hint)}`)
      }
    }
    await assertAlive(t, app, bystander, 'the user\'s other session')
  })

  t.test('a missing or empty token is an invalid_request', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const forms: Array<Record<string, string>> = [{}, { token: '' }, { token_type_hint: 'refresh_token' }, { token: '', token_type_hint: 'access_token' }]
    for (const form of forms) {
      const res = await revoke(app, form)
      assertInvalidRequest(t, res, JSON.stringify(form))
      t.match(res.json().detail, /\btoken\b/, 'names the token')
    }
    const noBody = await app.inject({ method: 'POST', url: '/revoke' })
    assertInvalidRequest(t, noBody, 'no body at all')
    await assertAlive(t, app, pair, 'the session')
  })

  t.test('a body that is not a form is an invalid_request, and revokes nothing', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const bodies = [
      { headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token: pair.refresh_token }) },
      { headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token: pair.access_token, token_type_hint: 'access_token' }) },
      { headers: { 'content-type': 'text/plain' }, payload: `token=${pair.refresh_token}` }
    ]
    for (const body of bodies) {
      const res = await app.inject({ method: 'POST', url: '/revoke', ...body })
      assertInvalidRequest(t, res, `${body.headers['content-type']} ${body.payload.slice(0, 12)}`)
    }
    await assertAlive(t, app, pair, 'the session')
  })

  t.test('a repeated token field is an invalid_request', async (t) => {
    const pair = await loginPair(app, await someone(app))
    const res = await app.inject({
      method: 'POST',
      url: '/revoke',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${pair.refresh_token}&token=${pair.refresh_token}`
    })
    assertInvalidRequest(t, res, 'token twice')
  })

  t.test('/revoke/ works too, and needs no authentication', async (t) => {
    const pair = await loginPair(app, await someone(app))
    assertRevoked(t, await revoke(app, { token: pair.refresh_token, client_id: 'some-client', client_secret: 'whatever' }, '/revoke/'), '/revoke/')
    await assertEnded(t, app, pair, 'the session')
  })

  t.test('revoking one user\'s token touches no other user', async (t) => {
    const a = await someone(app)
    const b = await someone(app)
    const aPair = await loginPair(app, a)
    const bPairs = [await loginPair(app, b), await loginPair(app, b)]
    assertRevoked(t, await revoke(app, { token: aPair.access_token }), 'a\'s access token')
    await assertEnded(t, app, aPair, 'a\'s session')
    for (const [i, pair] of bPairs.entries()) await assertAlive(t, app, pair, `b's session ${i + 1}`)
    t.equal((await db.selectFrom('sessions').select('id').where('username', '=', b.username).execute()).length, 2)
  })
})
