import fastifyJwt, { type JWT } from '@fastify/jwt'
import fastifySwagger from '@fastify/swagger'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import tokenAuth, { currentActiveUser, userOf, type Guard, type TokenAuthUser } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

// A host with @fastify/jwt, its `authenticate` decorator and @fastify/swagger of its own, and no
// declaration for the plugin: request.user and app.authenticate are the host's, the plugin's
// account comes from userOf. This folder has no deliberate type errors: `tsc -p
// test/types/host-jwt` (strict, skipLibCheck false) must pass.
interface HostClaims {
  sub: string
  scope: string[]
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: HostClaims
    user: HostClaims
  }
}

/** @fastify/jwt's recipe: the host's own guard, for the host's own tokens. */
type HostAuthenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: HostAuthenticate
  }
}

const app = Fastify()

test("request.user is the host's claims, userOf the plugin's account", () => {
  expect(app.register(fastifyJwt, { secret: 'a-secret-of-at-least-thirty-two-bytes' })).type.not.toRaiseError()
  expect(app.authenticate).type.toBe<HostAuthenticate>()
  expect(app.get('/host-me', { onRequest: app.authenticate }, async (request) => {
    expect(request.user).type.toBe<HostClaims>()
    return request.user.sub
  })).type.not.toRaiseError()
  expect(app.get('/me', { onRequest: currentActiveUser }, async (request) => {
    expect(request.user).type.toBe<HostClaims>()
    expect(userOf(request)).type.toBe<TokenAuthUser>()
    return userOf(request).username
  })).type.not.toRaiseError()
})

test("the host's own @fastify/jwt and @fastify/swagger decorators are there", () => {
  expect(app.jwt).type.toBe<JWT>()
  expect(app.jwt.sign({ sub: 'alice', scope: ['read'] })).type.toBe<string>()
  expect(app.register(fastifySwagger, { openapi: { info: { title: 'Host', version: '1.0.0' } } })).type.not.toRaiseError()
  expect(app.swagger).type.toBeCallableWith()
  expect(app.get('/host', {
    schema: { tags: ['host'], hide: false },
    onRequest: [async (request) => { await request.jwtVerify() }, app.authenticate]
  }, async (request) => {
    expect(request.user).type.toBe<HostClaims>()
    return await request.jwtDecode<HostClaims>()
  })).type.not.toRaiseError()
})

test("the plugin's guards are Guards, its authenticate decorator left to the host", () => {
  expect(app.register(tokenAuth, { secret: 'a-secret-of-at-least-thirty-two-bytes', database: 'sqlite::memory:', decorators: { authenticate: false } })).type.not.toRaiseError()
  expect(currentActiveUser).type.toBe<Guard>()
  expect(app.currentActiveUser).type.toBe<Guard>()
  expect(app.tokenAuth.authenticate).type.toBe<Guard>()
  expect(app.tokenAuth.issueToken('alice')).type.toBeAssignableTo<Promise<{ access_token: string }>>()
})
