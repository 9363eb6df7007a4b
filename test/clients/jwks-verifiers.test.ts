import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import buildGetJwks from 'get-jwks'
import * as jose from 'jose'
import type { Kysely } from 'kysely'
import * as oauth from 'oauth4webapi'
import t, { type Test } from 'tap'
import tokenAuth, { createDatabase, type AuthDatabase, type TokenAuthOptions } from '../../src/index.js'
import type { SigningAlgorithm } from '../../src/tokens/signing-keys.js'
import { testSecret } from '../helper.js'

// The access tokens verified offline, from the JWKS URL alone, by verifiers this project did not
// write: a Fastify resource server with @fastify/jwt and get-jwks (the recipe of get-jwks'
// README), jose's remote JWKS, and oauth4webapi's RFC 9068 validation. Every server listens on
// loopback; the verifiers hold no secret and share nothing with the authorization server.

type Json = Record<string, any>
type Asymmetric = Exclude<SigningAlgorithm, 'HS256'>
const PASSWORD = 'jwks-verifiers-password'
const AUDIENCE = 'fastify-token-auth'
const partsOf = (token: string) => token.split('.').map((part, index) => index < 2 ? JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Json : part) as [Json, Json, string]
const encode = (value: Json) => Buffer.from(JSON.stringify(value)).toString('base64url')

// Plain http on loopback: oauth4webapi refuses non-https URLs unless told; a transport setting only.
const insecure = { [oauth.allowInsecureRequests]: true } as const

interface AuthServer {
  app: FastifyInstance
  db: Kysely<AuthDatabase>
  /** The plugin's secret, which seals the private keys in the database. */
  secret: string
  issuer: string
  jwksUrl: string
  /** An access token from the password grant over HTTP. */
  login: () => Promise<string>
}

/**
 * The plugin under `/auth` in a host listening on 127.0.0.1, `publicUrl` its real URL (the port
 * is bound before the plugin registers), so `iss` is `http://127.0.0.1:<port>/auth`.
 */
async function startAuthServer (t: Test, algorithm: Asymmetric): Promise<AuthServer> {
  const db = createDatabase('sqlite::memory:')
  const secret = testSecret()
  t.teardown(async () => await db.destroy())
  let server: Server | undefined
  const app = Fastify({ logger: false, serverFactory: (handler) => (server = createServer(handler)) })
  t.teardown(async () => {
    await app.close()
    await new Promise((resolve) => server?.close(resolve))
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const publicUrl = `http://127.0.0.1:${(server?.address() as AddressInfo).port}`
  await app.register(tokenAuth, { secret, database: db, bcryptCost: 4, throttle: false, docs: false, algorithm, jwksCacheSeconds: 1, publicUrl, prefix: '/auth', metadataAtRoot: true })
  await app.ready()
  await app.tokenAuth.accounts.create({ username: 'johndoe', password: PASSWORD })
  const issuer = app.tokenAuth.settings.issuer
  return {
    app,
    db,
    secret,
    issuer,
    jwksUrl: `${issuer}/.well-known/jwks.json`,
    login: async () => {
      const res = await fetch(`${publicUrl}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: 'johndoe', password: PASSWORD }) })
      if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`)
      return (await res.json() as { access_token: string }).access_token
    }
  }
}

/**
 * Another deployment on the same database (so the same signing keys and kids) that names another
 * issuer or audience: its tokens carry a valid signature of a published key, and only the claim differs.
 */
async function sameKeysOtherClaims (t: Test, auth: AuthServer, algorithm: Asymmetric, claims: Pick<TokenAuthOptions, 'issuer' | 'audience'>): Promise<string> {
  const app = Fastify({ logger: false })
  t.teardown(async () => await app.close())
  await app.register(tokenAuth, { secret: auth.secret, database: auth.db, bcryptCost: 4, throttle: false, docs: false, algorithm, jwksCacheSeconds: 1, ...claims })
  return (await app.inject({ method: 'POST', url: '/token', payload: new URLSearchParams({ username: 'johndoe', password: PASSWORD }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json().access_token as string
}

/**
 * A resource server as get-jwks' README builds one: @fastify/jwt decodes the token completely and
 * its `secret` function fetches the public key of the token's `kid` from the issuer's JWKS (the
 * only issuer allowed); the verifier pins the algorithm, `iss` and `aud`. `GET /whoami` answers
 * 200 `{ sub }` for a valid token, else 401 `{ error }`.
 */
async function startResourceServer (t: Test, auth: AuthServer, algorithm: Asymmetric): Promise<(token: string) => Promise<{ status: number, body: Json }>> {
  const getJwks = buildGetJwks({ issuersWhitelist: [auth.issuer] })
  const rs = Fastify({ logger: false })
  t.teardown(async () => await rs.close())
  await rs.register(fastifyJwt, {
    decode: { complete: true },
    // The domain is the issuer configured here, never one the token names.
    secret: async (_request: FastifyRequest, token: TokenOrHeader) => {
      const { kid, alg } = 'header' in token ? token.header : token
      return await getJwks.getPublicKey({ kid, alg, domain: auth.issuer })
    },
    verify: { algorithms: [algorithm], allowedIss: auth.issuer, allowedAud: AUDIENCE }
  })
  rs.get('/whoami', async (request, reply) => {
    try {
      await request.jwtVerify()
    } catch (error) {
      return await reply.code(401).send({ error: (error as { code?: string }).code ?? String(error) })
    }
    return { sub: (request.user as { sub: string }).sub }
  })
  await rs.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(rs.server.address() as AddressInfo).port}/whoami`
  return async (token) => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() as Json }
  }
}

/** jose's verifier: the `sub` of a valid token, else the error code. */
function joseVerifier (auth: AuthServer, algorithm: Asymmetric, jwks: ReturnType<typeof jose.createRemoteJWKSet>) {
  return async (token: string): Promise<{ sub?: string, code?: string }> => {
    try {
      const { payload } = await jose.jwtVerify(token, jwks, { issuer: auth.issuer, audience: AUDIENCE, algorithms: [algorithm], typ: 'at+jwt' })
      return { sub: payload.sub }
    } catch (error) {
      return { code: (error as { code?: string }).code ?? String(error) }
    }
  }
}

/** oauth4webapi's RFC 9068 validation of a request bearing the token: the claims, else the error. */
function oauthVerifier (as: oauth.AuthorizationServer, algorithm: Asymmetric) {
  return async (token: string): Promise<{ claims?: oauth.JWTAccessTokenClaims, error?: unknown }> => {
    const request = new Request('http://127.0.0.1/resource', { headers: { authorization: `Bearer ${token}` } })
    try {
      return { claims: await oauth.validateJwtAccessToken(as, request, AUDIENCE, { ...insecure, signingAlgorithms: [algorithm] }) }
    } catch (error) {
      return { error }
    }
  }
}

/** The authorization server as oauth4webapi discovers it (RFC 8414, at the root for an issuer with a path). */
async function metadataOf (auth: AuthServer): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(auth.issuer)
  const insecure = { [oauth.allowInsecureRequests]: true } as const
  return await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
}

/** The token with its payload changed (the signature left as it was). */
function tampered (token: string): string {
  const [header, claims, signature] = partsOf(token)
  return `${encode(header)}.${encode({ ...claims, sub: 'admin' })}.${signature}`
}

t.test('ES256: three verifiers from the JWKS URL alone; a rotation reaches them without a restart', async (t) => {
  const algorithm = 'ES256'
  const auth = await startAuthServer(t, algorithm)
  t.match(auth.issuer, /^http:\/\/127\.0\.0\.1:\d+\/auth$/, 'iss is the public URL and the prefix')
  const resourceServer = await startResourceServer(t, auth, algorithm)
  // jose keeps a JWKS until cacheMaxAge and re-fetches for an unknown kid once cooldownDuration
  // has passed (defaults 10 min and 30 s): here both follow the 1 s max-age the JWKS announces.
  const viaJose = joseVerifier(auth, algorithm, jose.createRemoteJWKSet(new URL(auth.jwksUrl), { cacheMaxAge: 1000, cooldownDuration: 1000 }))
  const joseDefaults = joseVerifier(auth, algorithm, jose.createRemoteJWKSet(new URL(auth.jwksUrl)))
  const as = await metadataOf(auth)
  t.equal(as.jwks_uri, auth.jwksUrl, 'discovery names the JWKS')
  const viaOauth = oauthVerifier(as, algorithm)

  const before = await auth.login()
  const oldKid = partsOf(before)[0].kid as string
  t.same(await resourceServer(before), { status: 200, body: { sub: 'johndoe' } }, '@fastify/jwt + get-jwks accept a fresh token')
  t.same(await viaJose(before), { sub: 'johndoe' }, 'jose accepts it')
  t.same(await joseDefaults(before), { sub: 'johndoe' }, 'jose with its defaults too')
  const { claims, error } = await viaOauth(before)
  t.equal(error, undefined, 'oauth4webapi validates it as an RFC 9068 access token, as it is')
  t.match(claims, { iss: auth.issuer, aud: AUDIENCE, sub: 'johndoe', client_id: 'fastify-token-auth', scope: 'me' }, 'the claims it read')

  t.test('refused: a changed payload, another issuer, another audience, another algorithm', async (t) => {
    const otherIssuer = await sameKeysOtherClaims(t, auth, algorithm, { issuer: 'https://other.example/auth' })
    const otherAudience = await sameKeysOtherClaims(t, auth, algorithm, { audience: 'another-api' })
    t.equal(partsOf(otherIssuer)[0].kid, oldKid, 'signed with the published key')
    t.equal(partsOf(otherAudience)[0].kid, oldKid, 'signed with the published key')
    // The public key used as an HMAC secret would be the classic attack; the header alone must fail it.
    const [header, payload, signature] = before.split('.') as [string, string, string]
    const hs256 = `${encode({ ...partsOf(before)[0], alg: 'HS256' })}.${payload}.${signature}`
    const invalid = 'FST_JWT_AUTHORIZATION_TOKEN_INVALID'
    for (const [what, token, fastifyJwtCode, joseCode, oauthCode] of [
      ['a changed payload', tampered(before), invalid, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', oauth.INVALID_RESPONSE],
      ['another issuer', otherIssuer, invalid, 'ERR_JWT_CLAIM_VALIDATION_FAILED', oauth.JWT_CLAIM_COMPARISON],
      ['another audience', otherAudience, invalid, 'ERR_JWT_CLAIM_VALIDATION_FAILED', oauth.JWT_CLAIM_COMPARISON],
      // get-jwks finds no HS256 key in the set: no key, no verification.
      ['alg HS256 in the header', hs256, 'JWK_NOT_FOUND', 'ERR_JOSE_ALG_NOT_ALLOWED', oauth.INVALID_RESPONSE]
    ] as const) {
      t.same(await resourceServer(token), { status: 401, body: { error: fastifyJwtCode } }, `@fastify/jwt: ${what}`)
      t.same(await viaJose(token), { code: joseCode }, `jose: ${what}`)
      t.match((await viaOauth(token)).error, { code: oauthCode }, `oauth4webapi: ${what}`)
    }
    t.match((await viaOauth(`${header}.${payload}.`)).error, { code: oauth.INVALID_RESPONSE }, 'oauth4webapi: no signature')
    t.same(await resourceServer(before), { status: 200, body: { sub: 'johndoe' } }, 'the token itself still passes')
  })

  t.test('after a rotation: new tokens accepted, old ones still valid, no verifier restarted', async (t) => {
    const rotation = await auth.app.tokenAuth.keys.rotate()
    t.not(rotation.kid, oldKid)
    // The plugin switches keys at its next re-read after signsFrom: poll the token endpoint.
    const deadline = Date.parse(rotation.signsFrom) + 5000
    let after = await auth.login()
    while (partsOf(after)[0].kid !== rotation.kid && Date.now() < deadline) {
      await sleep(200)
      after = await auth.login()
    }
    t.equal(partsOf(after)[0].kid, rotation.kid, 'the new key signs')
    t.same(await resourceServer(after), { status: 200, body: { sub: 'johndoe' } }, '@fastify/jwt + get-jwks accept a token of the new key')
    t.same(await viaJose(after), { sub: 'johndoe' }, 'jose accepts it')
    t.same(await resourceServer(before), { status: 200, body: { sub: 'johndoe' } }, '@fastify/jwt + get-jwks still accept the old key\'s token')
    t.same(await viaJose(before), { sub: 'johndoe' }, 'so does jose')
    t.equal((await viaOauth(before)).error, undefined, 'and oauth4webapi')

    // Verifiers that re-fetch a JWKS at most every so often miss a key published only ~2.5 s
    // ahead (jwksCacheSeconds: 1): jwksCacheSeconds must exceed their floor (README, Signing keys).
    t.same(await joseDefaults(after), { code: 'ERR_JWKS_NO_MATCHING_KEY' }, 'jose with its default 30 s cooldown does not know the new key yet')
    const missed = (await viaOauth(after)).error
    t.match(missed, { code: oauth.KEY_SELECTION }, 'oauth4webapi (re-fetch for an unknown kid once its copy is 60 s old) does not either')
    t.equal((await oauthVerifier(await metadataOf(auth), algorithm)(after)).error, undefined, 'oauth4webapi with a fresh cache (new metadata object) accepts it')
  })
})

for (const algorithm of ['EdDSA', 'RS256'] as const) {
  t.test(`${algorithm}: the verifiers that support it accept a fresh token and refuse a changed one`, async (t) => {
    const auth = await startAuthServer(t, algorithm)
    const token = await auth.login()
    t.equal(partsOf(token)[0].alg, algorithm, `signed with ${algorithm}`)
    const viaJose = joseVerifier(auth, algorithm, jose.createRemoteJWKSet(new URL(auth.jwksUrl)))
    const viaOauth = oauthVerifier(await metadataOf(auth), algorithm)
    t.same(await viaJose(token), { sub: 'johndoe' }, 'jose accepts it')
    t.same(await viaJose(tampered(token)), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' }, 'jose refuses a changed one')
    t.equal((await viaOauth(token)).error, undefined, 'oauth4webapi accepts it')
    t.ok((await viaOauth(tampered(token))).error instanceof oauth.OperationProcessingError, 'oauth4webapi refuses a changed one')
    if (algorithm === 'RS256') {
      const resourceServer = await startResourceServer(t, auth, algorithm)
      t.same(await resourceServer(token), { status: 200, body: { sub: 'johndoe' } }, '@fastify/jwt + get-jwks accept it')
      t.same(await resourceServer(tampered(token)), { status: 401, body: { error: 'FST_JWT_AUTHORIZATION_TOKEN_INVALID' } }, '@fastify/jwt + get-jwks refuse a changed one')
    } else {
      // get-jwks turns a JWK into PEM with jwk-to-pem, which knows EC and RSA keys only.
      const kid = partsOf(token)[0].kid as string
      await t.rejects(buildGetJwks().getPublicKey({ domain: auth.issuer, alg: algorithm, kid }), /Unsupported key type "OKP"/,
        'get-jwks cannot use an Ed25519 key: the @fastify/jwt recipe needs ES256 or RS256')
    }
  })
}
