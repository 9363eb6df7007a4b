import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify from 'fastify'
import { defineErrors, errors, errorResponses, sendError, tokenAuthErrors, type ErrorEntry, type TokenAuthError } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

const app = Fastify()

test('an entry takes the arguments its detail is worded from, and no others', () => {
  expect(errors.NOT_AUTHENTICATED.create()).type.toBeAssignableTo<TokenAuthError<string>>()
  expect(errors.NOT_AUTHENTICATED.create).type.not.toBeCallableWith(1)
  expect(errors.TOO_MANY_REQUESTS.create(30).statusCode).type.toBe<number>()
  expect(errors.TOO_MANY_REQUESTS.create).type.not.toBeCallableWith()
  expect(errors.TOO_MANY_REQUESTS.create).type.not.toBeCallableWith('30')
  expect(errors.MISSING_FIELD.detail(['token'])).type.toBe<string>()
  expect(errors.VALIDATION.detail([{ loc: ['body', 'title'], msg: 'Field required', type: 'missing' }])[0]?.msg).type.toBe<string | undefined>()
  expect(errors.INVALID_TOKEN.code).type.toBe<string>()
  expect(errors.NOT_FOUND).type.toBeAssignableTo<ErrorEntry<[], string>>()
})

test('sendError answers on the reply of any route, guarded or typed, of any server', () => {
  expect(app.get('/x', async (_request, reply) => sendError(reply, errors.NOT_FOUND))).type.not.toRaiseError()
  expect(app.addHook('onRequest', async (_request, reply) => { sendError(reply, errors.TOO_MANY_REQUESTS, 5) })).type.not.toRaiseError()
  const typed = Fastify().withTypeProvider<TypeBoxTypeProvider>()
  expect(typed.get('/y', { schema: { response: { 200: Type.Object({ ok: Type.Boolean() }), 400: Type.Object({ detail: Type.String() }) } } },
    async (_request, reply) => sendError(reply, errors.INACTIVE_USER))).type.not.toRaiseError()
  const h2 = Fastify({ http2: true })
  expect(h2.get('/z', async (_request, reply) => sendError(reply, errors.NOT_FOUND))).type.not.toRaiseError()
})

test('a host makes a table of its own, whose entries check their examples', () => {
  const own = defineErrors('MY_APP_', {
    GONE: { status: 410, detail: (what: string) => `${what} is gone`, example: ['The page'], summary: 'Gone', when: 'It was deleted' }
  })
  expect(own.GONE.create('Thing').answer.detail).type.toBe<string>()
  expect(own.GONE.create).type.not.toBeCallableWith(1)
  expect(defineErrors('MY_APP_', {
    GONE: { status: 410, detail: (what: string) => `${what} is gone`, example: [42], summary: 'Gone', when: 'It was deleted' }
  })).type.toRaiseError()
})

test('the error handler plugin and the OpenAPI responses are there for a host', () => {
  expect(app.register(tokenAuthErrors, { notFound: true })).type.not.toRaiseError()
  expect(errorResponses.unauthorized.description).type.toBe<string>()
  expect(errorResponses.errorResponse([errors.INVALID_TOKEN])).type.not.toRaiseError()
})
