import Fastify, { type FastifyRequest } from 'fastify'
import { userOf, type TokenAuthUser, type UserRecord } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

const app = Fastify()
declare const request: FastifyRequest

test('TokenAuthUser is the public account, with wire field names', () => {
  expect<TokenAuthUser>().type.toBe<{ username: string, email: string | null, email_verified: boolean, full_name: string | null, disabled: boolean }>()
})

test('userOf gives a TokenAuthUser on any route', () => {
  expect(userOf(request)).type.toBe<TokenAuthUser>()
  expect(userOf(request).full_name).type.toBe<string | null>()
  expect(app.get('/me', { onRequest: app.currentActiveUser }, async (request) => {
    expect(userOf(request)).type.toBe<TokenAuthUser>()
    return userOf(request)
  })).type.not.toRaiseError()
})

test('the account is not any: what the store keeps is not on it', () => {
  expect(userOf(request).hashed_password).type.toRaiseError(2339)
  expect(userOf(request).hashedPassword).type.toRaiseError(2339)
  expect(userOf(request).tokenVersion).type.toRaiseError(2339)
  expect(userOf(request)).type.not.toBeAssignableTo<UserRecord>()
})

test('userOf reads a request, nothing else', () => {
  expect(userOf).type.not.toBeCallableWith({ username: 'alice' })
  expect(userOf).type.not.toBeCallableWith()
})

test('the plugin claims no request.user: a host may declare its own, of any type', () => {
  expect(request).type.not.toHaveProperty('user')
})
