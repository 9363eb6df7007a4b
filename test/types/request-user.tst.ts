import Fastify, { type FastifyRequest } from 'fastify'
import type { RequestUser, TokenAuthUser, UserRecord } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

const app = Fastify()
declare const request: FastifyRequest

test('TokenAuthUser is the public account, with wire field names', () => {
  expect<TokenAuthUser>().type.toBe<{ username: string, email: string | null, full_name: string | null, disabled: boolean }>()
  expect<RequestUser>().type.toBe<TokenAuthUser>()
})

test('request.user is a TokenAuthUser', () => {
  expect(request.user).type.toBe<TokenAuthUser>()
  expect(request.user.username).type.toBe<string>()
  expect(request.user.full_name).type.toBe<string | null>()
  expect(app.get('/me', { onRequest: app.currentActiveUser }, async (request) => {
    expect(request.user).type.toBe<TokenAuthUser>()
    return request.user
  })).type.not.toRaiseError()
})

test('request.user is not any: what the store keeps is not on it', () => {
  expect(request.user.hashed_password).type.toRaiseError(2339)
  expect(request.user.hashedPassword).type.toRaiseError(2339)
  expect(request.user.tokenVersion).type.toRaiseError(2339)
  expect(request.user).type.not.toBeAssignableTo<UserRecord>()
})

test('request.user takes no other type', () => {
  expect(() => { request.user = { username: 'alice' } }).type.toRaiseError(2739)
  expect(() => { request.user = 'alice' }).type.toRaiseError(2322)
})
