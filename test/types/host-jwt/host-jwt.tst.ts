import type { JWT } from '@fastify/jwt'
import '@fastify/jwt'
import fastifySwagger from '@fastify/swagger'
import Fastify from 'fastify'
import tokenAuth, { type Guard, type RequestUser, type TokenAuthUser } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

// A host with @fastify/jwt of its own: both declarations of request.user must name one type, so
// the host says it in FastifyJWT and in TokenAuthTypes alike. It also has its own @fastify/swagger.
// This folder has no deliberate type errors: `tsc -p test/types/host-jwt` must pass too.
interface HostClaims {
  sub: string
  scope: string[]
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: HostClaims
    user: HostClaims | TokenAuthUser
  }
}

declare module 'fastify-token-auth' {
  interface TokenAuthTypes {
    user: HostClaims | TokenAuthUser
  }
}

const app = Fastify()

test('request.user is the union both declarations name', () => {
  expect<RequestUser>().type.toBe<HostClaims | TokenAuthUser>()
  expect(app.get('/me', { onRequest: app.authenticate }, async (request) => {
    expect(request.user).type.toBe<HostClaims | TokenAuthUser>()
    return 'username' in request.user ? request.user.username : request.user.sub
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
    expect(request.user).type.toBe<HostClaims | TokenAuthUser>()
    return await request.jwtDecode<HostClaims>()
  })).type.not.toRaiseError()
})

test('the guards are still Guards', () => {
  expect(app.register(tokenAuth, { secret: 'a-secret-of-at-least-thirty-two-bytes', database: 'sqlite::memory:' })).type.not.toRaiseError()
  expect(app.authenticate).type.toBe<Guard>()
  expect(app.currentActiveUser).type.toBe<Guard>()
  expect(app.tokenAuth.issueToken('alice')).type.toBeAssignableTo<Promise<{ access_token: string }>>()
})
