import Fastify from 'fastify'
import tokenAuth, { userOf, type Guard, type TokenAuthUser } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

// The host renames one guard decorator and omits the other, in its options and in the types alike.
declare module 'fastify-token-auth' {
  interface TokenAuthTypes {
    decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false }
  }
}

const app = Fastify()

test('the options the types describe', () => {
  expect(app.register(tokenAuth, {
    secret: 'a-secret-of-at-least-thirty-two-bytes',
    database: 'sqlite::memory:',
    decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false }
  })).type.not.toRaiseError()
})

test('the renamed guard is a Guard under its new name', () => {
  expect(app.tokenAuthenticate).type.toBe<Guard>()
  expect(app.get('/me', { onRequest: app.tokenAuthenticate, preHandler: [app.tokenAuthenticate] }, async (request) => {
    expect(userOf(request)).type.toBe<TokenAuthUser>()
    return userOf(request).username
  })).type.not.toRaiseError()
})

test('the default names are gone', () => {
  expect(app.authenticate).type.toRaiseError(2339)
  expect(app.currentActiveUser).type.toRaiseError(2339)
})

test('app.tokenAuth keeps both guards', () => {
  expect(app.tokenAuth.authenticate).type.toBe<Guard>()
  expect(app.tokenAuth.currentActiveUser).type.toBe<Guard>()
  expect(app.get('/active', { onRequest: app.tokenAuth.currentActiveUser }, async () => 'ok')).type.not.toRaiseError()
})
