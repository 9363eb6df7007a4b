import Fastify from 'fastify'
import 'fastify-token-auth'
import { expect, test } from 'tstyche'

const app = Fastify()

test("the plugin's context decorators are not the host's", () => {
  expect(app.db).type.toRaiseError(2339)
  expect(app.items).type.toRaiseError(2339)
  expect(app.tokenAuthUsers).type.toRaiseError(2339)
  expect(app.tokenAuthGuards).type.toRaiseError(2339)
  expect(app.tokenAuthTokens).type.toRaiseError(2339)
  expect(app.tokenAuthPasswords).type.toRaiseError(2339)
  expect(app.tokenAuthMetrics).type.toRaiseError(2339)
  expect(app.tokenAuthThrottle).type.toRaiseError(2339)
  expect(app.tokenAuthDatabase).type.toRaiseError(2339)
  expect(app.passwords).type.toRaiseError(2339)
})

test('no @fastify/jwt decorators for a host that did not import it', () => {
  expect(app.jwt).type.toRaiseError(2339)
  expect(app.get('/x', async (request, reply) => {
    expect(request.jwtVerify).type.toRaiseError(2339)
    expect(reply.jwtSign).type.toRaiseError(2339)
  })).type.not.toRaiseError()
})

test('no @fastify/swagger decorators for a host that did not import it', () => {
  expect(app.swagger).type.toRaiseError(2339)
  expect(app.route({ method: 'GET', url: '/y', schema: { hide: true, tags: ['x'] }, handler: async () => 'ok' })).type.toRaiseError(2353)
})
