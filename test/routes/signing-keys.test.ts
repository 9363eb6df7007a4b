import { createHmac, createPublicKey, verify as verifySignature, type JsonWebKey } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { Kysely } from 'kysely'
import t from 'tap'
import tokenAuth, { createDatabase, errors, type AuthDatabase, type TokenAuthOptions } from '../../src/index.js'
import { resealSigningKeys } from '../../src/tokens/key-ring.js'
import type { Engine } from '../../src/db/dialect.js'
import { forEachEngine, freshDatabaseUrl, testSecret, type TestContext } from '../helper.js'

// Access tokens as RFC 9068 profiles them, signed with HS256 or a key pair from the database:
// their header and claims, the JWKS, the verifier's pins (algorithm, kid among its own keys, no
// key-bearing headers), keys sealed at rest, rotation that publishes before it signs, and two
// instances sharing the keys through one database.

type Json = Record<string, any>
const PASSWORD = 'signing-test-password'
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Json
const partsOf = (token: string) => { const [header = '', payload = ''] = token.split('.'); return { header: decode(header), claims: decode(payload) } }

interface Instance {
  host: FastifyInstance
  login: (form?: Record<string, string>) => Promise<LightMyRequestResponse>
  me: (token: string) => Promise<number>
  jwks: () => Promise<{ keys: Json[], cacheControl: string | undefined }>
}

/** A host with the plugin on `db`, and johndoe in it (created once per database). */
async function instance (t: TestContext, db: Kysely<AuthDatabase>, options: Partial<TokenAuthOptions> = {}): Promise<Instance> {
  const host = Fastify({ logger: false })
  t.teardown(async () => await host.close())
  await host.register(tokenAuth, { secret: options.secret ?? SECRET, database: db, bcryptCost: 4, throttle: false, docs: false, ...options })
  await host.ready()
  if (await host.tokenAuth.users.findByUsername('johndoe') === undefined) await host.tokenAuth.accounts.create({ username: 'johndoe', password: PASSWORD })
  return {
    host,
    login: async (form = {}) => await host.inject({ method: 'POST', url: '/token', payload: new URLSearchParams({ username: 'johndoe', password: PASSWORD, ...form }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    me: async (token) => (await host.inject({ url: '/users/me/', headers: { authorization: `Bearer ${token}` } })).statusCode,
    jwks: async () => {
      const res = await host.inject({ url: '/.well-known/jwks.json' })
      return { keys: res.json().keys, cacheControl: res.headers['cache-control'] as string | undefined }
    }
  }
}

const SECRET = testSecret()

async function database (t: TestContext, engine: Engine, shared = false): Promise<Kysely<AuthDatabase>> {
  const db = createDatabase(await freshDatabaseUrl(t, engine, { shared }))
  t.teardown(async () => await db.destroy())
  return db
}

/** Whether `token` carries a valid signature of the JWK (checked with node:crypto alone). */
function signedBy (token: string, jwk: JsonWebKey, alg: string): boolean {
  const [header, payload, signature] = token.split('.')
  const data = Buffer.from(`${header}.${payload}`)
  const key = createPublicKey({ key: jwk, format: 'jwk' })
  const sig = Buffer.from(signature as string, 'base64url')
  if (alg === 'ES256') return verifySignature('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)
  if (alg === 'EdDSA') return verifySignature(null, data, key, sig)
  return verifySignature('sha256', data, key, sig)
}

const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

forEachEngine(t, async (t, engine) => {
  for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
    t.test(`${alg}: an RFC 9068 token, verifiable from the JWKS alone`, async (t) => {
      const { login, me, jwks } = await instance(t, await database(t, engine), { algorithm: alg })
      const res = await login({ client_id: 'mobile-app' })
      t.equal(res.statusCode, 200)
      const token = res.json().access_token as string
      const { header, claims } = partsOf(token)
      t.same(Object.keys(header).sort(), ['alg', 'kid', 'typ'])
      t.match(header, { alg, typ: 'at+jwt', kid: /^[A-Za-z0-9_-]{43}$/ })
      t.same(Object.keys(claims).sort(), ['amr', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sid', 'sub'])
      t.match(claims, { iss: 'fastify-token-auth', aud: 'fastify-token-auth', sub: 'johndoe', client_id: 'mobile-app', scope: 'me', amr: ['pwd'] })
      t.equal(claims.exp - claims.iat, 1800, '30 minutes')
      t.equal(await me(token), 200)

      const set = await jwks()
      t.equal(set.cacheControl, 'public, max-age=300')
      t.equal(set.keys.length, 1, 'one key')
      const key = set.keys[0] as Json
      t.match(key, { kid: header.kid, alg, use: 'sig' })
      for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) t.notOk(part in key, `no private part ${part}`)
      t.ok(signedBy(token, key, alg), 'the published key verifies the signature')
      t.equal((await login()).json().access_token.split('.')[0], token.split('.')[0], 'the next token has the same header')
      t.equal(partsOf((await login()).json().access_token).claims.client_id, 'fastify-token-auth', 'no client_id: the configured one')
    })
  }

  t.test('HS256 (the default): at+jwt with a kid, an empty JWKS, and tokens issued before still valid', async (t) => {
    const { login, me, jwks } = await instance(t, await database(t, engine))
    const token = (await login()).json().access_token as string
    const { header, claims } = partsOf(token)
    t.match(header, { alg: 'HS256', typ: 'at+jwt', kid: /^[A-Za-z0-9_-]{22}$/ })
    t.match(claims, { client_id: 'fastify-token-auth', jti: /./ })
    t.same((await jwks()).keys, [], 'no public key: the key is the shared secret')
    // A token as 0.1.0 issued them: typ JWT, no kid, no client_id.
    const { kid: _kid, ...legacyHeader }: Json = { ...header, typ: 'JWT' }
    const { client_id: _client, ...legacyClaims } = claims
    const sign = (h: Json, c: Json) => {
      const input = `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(c)).toString('base64url')}`
      return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
    }
    t.equal(await me(sign(legacyHeader, legacyClaims)), 200, 'a token issued before (no kid, typ JWT) is accepted until it expires')
    t.equal(await me(sign({ ...header, kid: 'another-kid' }, claims)), 401, 'a kid that is not this secret\'s')
    t.equal(await me(sign({ ...header }, legacyClaims)), 401, 'an at+jwt token without client_id')
    t.equal(await me(sign({ ...header, typ: 'JWT' }, claims)), 401, 'a kid without at+jwt')
  })

  t.test('the verifier pins the algorithm, knows only its own kids, and never follows a key the token names', async (t) => {
    const { login, me, jwks } = await instance(t, await database(t, engine), { algorithm: 'ES256' })
    const token = (await login()).json().access_token as string
    const [headerPart, payloadPart, signature] = token.split('.') as [string, string, string]
    const { header, claims } = partsOf(token)
    const encode = (value: Json) => Buffer.from(JSON.stringify(value)).toString('base64url')
    let fetched = 0
    const lure = createServer((_request, response) => { fetched++; response.end('{"keys":[]}') })
    await new Promise<void>((resolve) => lure.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { lure.close() })
    const url = `http://127.0.0.1:${(lure.address() as AddressInfo).port}/jwks.json`
    const key = (await jwks()).keys[0] as Json
    for (const [what, extra] of [['jku', { jku: url }], ['x5u', { x5u: url }], ['an embedded jwk', { jwk: key }], ['x5c', { x5c: ['MIIB'] }], ['crit', { crit: ['exp'] }]] as const) {
      t.equal(await me(`${encode({ ...header, ...extra })}.${payloadPart}.${signature}`), 401, `a header with ${what}`)
    }
    t.equal(await me(`${encode({ ...header, kid: 'not-a-key-of-ours' })}.${payloadPart}.${signature}`), 401, 'an unknown kid')
    t.equal(await me(`${encode({ ...header, alg: 'ES384' })}.${payloadPart}.${signature}`), 401, 'another algorithm')
    t.equal(await me(`${encode({ ...header, alg: 'none' })}.${payloadPart}.`), 401, 'alg none')
    // The public key used as an HMAC secret (algorithm confusion).
    const confused = `${encode({ ...header, alg: 'HS256' })}.${payloadPart}`
    const pem = createPublicKey({ key, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString()
    t.equal(await me(`${confused}.${createHmac('sha256', pem).update(confused).digest('base64url')}`), 401, 'HS256 signed with the public key')
    t.equal(await me(`${headerPart}.${encode({ ...claims, scope: 'me items admin' })}.${signature}`), 401, 'a changed payload')
    t.equal(fetched, 0, 'no request went out')
    t.equal(await me(token), 200, 'the token itself still works')
  })

  t.test('client_id: from the form, kept by refreshes; a malformed one is invalid_request', async (t) => {
    const { host, login } = await instance(t, await database(t, engine), { algorithm: 'EdDSA', clientId: 'first-party-web' })
    t.equal(partsOf((await login()).json().access_token).claims.client_id, 'first-party-web', 'the configured first-party client')
    const pair = (await login({ client_id: 'cli tool/1.0' })).json()
    const refreshed = await host.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: pair.refresh_token }).toString() })
    t.equal(partsOf(refreshed.json().access_token).claims.client_id, 'cli tool/1.0', 'the refresh keeps the login\'s client')
    for (const clientId of ['x'.repeat(256), 'tab\there', 'ünïcode']) {
      const res = await login({ client_id: clientId })
      t.equal(res.statusCode, 400, JSON.stringify(clientId.slice(0, 12)))
      t.same(res.json(), { error: 'invalid_request', error_description: 'Malformed client_id: at most 255 printable ASCII characters', detail: 'Malformed client_id: at most 255 printable ASCII characters' })
    }
    t.match(partsOf((await host.tokenAuth.issueToken('johndoe', { clientId: 'host-sso' })).access_token).claims, { client_id: 'host-sso' }, 'issueToken takes one too')
  })

  t.test('private keys are sealed at rest; another secret refuses to start, and resealing lets it', async (t) => {
    const db = await database(t, engine)
    const first = await instance(t, db, { algorithm: 'ES256' })
    const token = (await first.login()).json().access_token as string
    const rows = await db.selectFrom('signing_keys').selectAll().execute()
    t.equal(rows.length, 1)
    const row = rows[0] as Json
    t.match(row.private_key, /^v1\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/, 'sealed: version, salt, iv, tag, ciphertext')
    t.notMatch(row.private_key, /PRIVATE KEY|MII/, 'no PEM in the clear')
    t.notOk('d' in JSON.parse(row.public_jwk), 'the public column has no private part')
    await first.host.close()

    const other = testSecret()
    const refused = await instance(t, db, { algorithm: 'ES256', secret: other }).catch((error: unknown) => error)
    t.ok(errors.KEYS_SEALED.is(refused), 'start-up refused with KEYS_SEALED')
    t.match((refused as Error).message, new RegExp(`signing key ${row.kid as string} in the database was sealed under another secret.*fastify-token-auth rekey`))
    t.equal(await resealSigningKeys(db, SECRET, other), 1, 'resealed under the new secret')
    await t.rejects(resealSigningKeys(db, SECRET, other), /cannot be opened/, 'the old secret no longer opens them')
    const second = await instance(t, db, { algorithm: 'ES256', secret: other })
    t.equal(await second.me(token), 200, 'tokens signed before still verify')
    t.equal(partsOf((await second.login()).json().access_token).header.kid, row.kid, 'and it signs with the same key')
  })

  t.test('rotation publishes the new key before it signs, and keeps the old one until its tokens expire', async (t) => {
    const db = await database(t, engine)
    const { host, login, me, jwks } = await instance(t, db, { algorithm: 'ES256', jwksCacheSeconds: 1 })
    const before = (await login()).json().access_token as string
    const oldKid = partsOf(before).header.kid as string
    const rotation = await host.tokenAuth.keys.rotate()
    t.equal(rotation.created, true)
    t.not(rotation.kid, oldKid)
    const waitMs = Date.parse(rotation.signsFrom) - Date.now()
    t.ok(waitMs >= 1000, `it signs ${waitMs} ms from now: at least the JWKS cache lifetime`)
    t.same((await jwks()).keys.map((key) => key.kid).sort(), [oldKid, rotation.kid].sort(), 'both published at once')
    t.equal(partsOf((await login()).json().access_token).header.kid, oldKid, 'the old key still signs')
    t.same(await host.tokenAuth.keys.rotate(), { ...rotation, created: false }, 'a second rotation finds the one waiting')
    await sleep(waitMs + 1200)
    const after = (await login()).json().access_token as string
    t.equal(partsOf(after).header.kid, rotation.kid, 'the new key signs once its time has come')
    t.equal(await me(before), 200, 'a token of the old key still works')
    t.equal(await me(after), 200)
    t.equal((await jwks()).keys.length, 2, 'the old key stays published while its tokens live')
    // As if its last token expired: the next re-read drops it.
    await db.updateTable('signing_keys').set({ signs_from: new Date(Date.now() - 3 * 3_600_000).toISOString() }).where('kid', '=', rotation.kid).execute()
    await db.updateTable('signing_keys').set({ signs_from: new Date(Date.now() - 4 * 3_600_000).toISOString() }).where('kid', '=', oldKid).execute()
    await sleep(1200)
    t.same((await jwks()).keys.map((key) => key.kid), [rotation.kid], 'the retired key is gone from the JWKS')
    t.equal((await db.selectFrom('signing_keys').select('kid').execute()).length, 1, 'and from the database')
    const fresh = await instance(t, db, { algorithm: 'ES256', jwksCacheSeconds: 1 })
    t.equal(await fresh.me(before), 401, 'its tokens are refused')
    t.equal(await fresh.me(after), 200)
  })

  t.test('keyRotationDays rotates a key that old by itself', async (t) => {
    const db = await database(t, engine)
    const { jwks } = await instance(t, db, { algorithm: 'ES256', jwksCacheSeconds: 1, keyRotationDays: 1 })
    t.equal((await jwks()).keys.length, 1)
    await db.updateTable('signing_keys').set({ signs_from: new Date(Date.now() - 2 * 86_400_000).toISOString() }).execute()
    await sleep(1200)
    t.equal((await jwks()).keys.length, 2, 'a new key is published by the next re-read')
    t.equal((await db.selectFrom('signing_keys').select('kid').execute()).length, 2)
  })

  t.test('two instances on one database rotate while a client keeps calling: no request refused', async (t) => {
    const db = await database(t, engine, true)
    const options = { algorithm: 'ES256' as const, jwksCacheSeconds: 1 }
    const a = await instance(t, db, options)
    const b = await instance(t, db, options)
    t.same((await a.jwks()).keys, (await b.jwks()).keys, 'the same keys on both')
    const kids = new Set<string>()
    const statuses: number[] = []
    const rotateAt = Date.now() + 500
    let rotated = false
    // Until a second after the new key has started signing (or a bound well past its lead time).
    let until = rotateAt + 8000
    while (Date.now() < until) {
      if (!rotated && Date.now() >= rotateAt) {
        until = Math.min(until, Date.parse((await a.host.tokenAuth.keys.rotate()).signsFrom) + 1000)
        rotated = true
      }
      for (const [signer, checker] of [[a, b], [b, a]] as const) {
        const token = (await signer.login()).json().access_token as string
        kids.add(partsOf(token).header.kid)
        statuses.push(await checker.me(token), await signer.me(token))
      }
      await sleep(100)
    }
    t.ok(statuses.length > 40, `${statuses.length} requests`)
    t.same([...new Set(statuses)], [200], 'every one admitted, by the instance that signed it and by the other')
    t.equal(kids.size, 2, 'tokens of both keys were checked')
  })

  t.test('an unknown algorithm is refused at start, naming the allowed ones', async (t) => {
    const host = Fastify({ logger: false })
    t.teardown(async () => await host.close())
    await t.rejects(async () => { await host.register(tokenAuth, { secret: SECRET, database: 'sqlite::memory:', algorithm: 'HS512' as never }).ready() },
      /algorithm must be one of HS256, ES256, EdDSA, RS256/)
  })
})
