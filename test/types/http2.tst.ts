import Fastify from 'fastify'
import { userOf } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

const h2 = Fastify({ http2: true })

// Skipped while Guard types the default (HTTP/1) server's request and reply only: an http2 host's hooks refuse it.
test('the guards on an http2 host', () => {
  expect(h2.get('/h2', { onRequest: h2.authenticate, preHandler: [h2.currentActiveUser] }, async (request) => userOf(request).username)).type.not.toRaiseError()
  expect(h2.addHook('preHandler', async (request, reply) => { await h2.authenticate(request, reply) })).type.not.toRaiseError()
})
