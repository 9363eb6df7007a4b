import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { authenticate, currentActiveUser, requireScopes, userOf, type Guard, type TokenAuthUser } from 'fastify-token-auth'
import { describe, expect, test } from 'tstyche'

const app = Fastify()

test('the guard decorators are Guards', () => {
  expect<ReturnType<Guard>>().type.toBe<Promise<void>>()
  expect<Guard>().type.toBeAssignableTo<(request: FastifyRequest, reply: FastifyReply) => Promise<void>>()
  expect(app.authenticate).type.toBe<Guard>()
  expect(app.currentActiveUser).type.toBe<Guard>()
  expect(app.tokenAuth.authenticate).type.toBe<Guard>()
  expect(app.tokenAuth.currentActiveUser).type.toBe<Guard>()
})

test('the exported guards are Guards, never undefined, and type userOf(request) on their routes', () => {
  expect(authenticate).type.toBe<Guard>()
  expect(currentActiveUser).type.toBe<Guard>()
  expect(app.get('/exported', { onRequest: currentActiveUser }, async (request) => {
    expect(userOf(request)).type.toBe<TokenAuthUser>()
    return userOf(request).username
  })).type.not.toRaiseError()
  expect(app.get('/exported-array', { preHandler: [authenticate, currentActiveUser] }, async () => 'ok')).type.not.toRaiseError()
})

describe('on a plain route', () => {
  test('a guard alone in onRequest, preValidation or preHandler', () => {
    expect(app.get('/a', { onRequest: app.authenticate }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/b', { preValidation: app.currentActiveUser }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/c', { preHandler: app.authenticate }, async () => 'ok')).type.not.toRaiseError()
  })

  test('guards in arrays, beside hooks of the host', () => {
    expect(app.get('/d', {
      onRequest: [app.authenticate, async (request) => { request.log.info('in') }],
      preValidation: [app.currentActiveUser],
      preHandler: [app.authenticate, app.currentActiveUser]
    }, async () => 'ok')).type.not.toRaiseError()
  })

  test('in app.route and a route shorthand with a handler option', () => {
    expect(app.route({ method: 'GET', url: '/e', onRequest: [app.currentActiveUser], handler: async () => 'ok' })).type.not.toRaiseError()
    expect(app.post('/f', { preHandler: app.tokenAuth.currentActiveUser, handler: async () => 'ok' })).type.not.toRaiseError()
  })

  test('inside a plugin of the host, through its own instance', () => {
    expect(app.register(async (child) => {
      child.get('/g', { onRequest: child.authenticate }, async (request) => userOf(request).username)
    })).type.not.toRaiseError()
  })

  test('as a global hook', () => {
    expect(app.addHook('onRequest', app.authenticate)).type.not.toRaiseError()
    expect(app.addHook('preHandler', app.currentActiveUser)).type.not.toRaiseError()
  })
})

describe('on routes with typed requests', () => {
  test('with Querystring, Params and Body generics', () => {
    expect(app.post<{ Querystring: { q: string }, Params: { id: string }, Body: { n: number } }>('/h/:id', {
      onRequest: app.authenticate,
      preValidation: [app.authenticate],
      preHandler: [app.currentActiveUser]
    }, async (request) => {
      expect(request.query.q).type.toBe<string>()
      expect(request.params.id).type.toBe<string>()
      expect(request.body.n).type.toBe<number>()
      expect(userOf(request)).type.toBe<TokenAuthUser>()
      return userOf(request).username
    })).type.not.toRaiseError()
  })

  test('with the TypeBox type provider', () => {
    const typed = app.withTypeProvider<TypeBoxTypeProvider>()
    expect(typed.authenticate).type.toBe<Guard>()
    expect(typed.post('/i', {
      schema: {
        querystring: Type.Object({ q: Type.Optional(Type.String()) }),
        body: Type.Object({ name: Type.String() }),
        response: { 200: Type.Object({ owner: Type.String(), name: Type.String() }) }
      },
      onRequest: typed.authenticate,
      preValidation: [typed.currentActiveUser],
      preHandler: [typed.authenticate, typed.currentActiveUser]
    }, async (request) => {
      expect(request.query.q).type.toBe<string | undefined>()
      expect(request.body.name).type.toBe<string>()
      expect(userOf(request)).type.toBe<TokenAuthUser>()
      return { owner: userOf(request).username, name: request.body.name }
    })).type.not.toRaiseError()
  })

  test('with the TypeBox type provider and app.route', () => {
    const typed = app.withTypeProvider<TypeBoxTypeProvider>()
    expect(typed.route({
      method: 'PUT',
      url: '/j',
      schema: { body: Type.Object({ done: Type.Boolean() }) },
      onRequest: [typed.currentActiveUser],
      handler: async (request) => request.body.done
    })).type.not.toRaiseError()
  })
})

describe('awaited by hand', () => {
  test('in an async hook of the host', () => {
    expect(app.addHook('preHandler', async (request, reply) => {
      expect(app.authenticate(request, reply)).type.toBe<Promise<void>>()
      await app.authenticate(request, reply)
      if (reply.sent) return
      expect(userOf(request)).type.toBe<TokenAuthUser>()
    })).type.not.toRaiseError()
  })

  test('in a route hook of a TypeBox route, with its typed request', () => {
    const typed = app.withTypeProvider<TypeBoxTypeProvider>()
    expect(typed.post('/k', {
      schema: { body: Type.Object({ name: Type.String() }) },
      preHandler: async function (request, reply) {
        await this.currentActiveUser(request, reply)
      }
    }, async (request) => request.body.name)).type.not.toRaiseError()
  })

  test('not with arguments that are not a request and a reply', () => {
    expect(app.authenticate({}, {})).type.toRaiseError(2345)
    expect(app.authenticate()).type.toRaiseError(2554)
  })
})

test('requireScopes makes a Guard, exported and on the instance', () => {
  expect(requireScopes('orders:read')).type.toBe<Guard>()
  expect(requireScopes('orders:read', 'orders:write')).type.toBe<Guard>()
  expect(app.tokenAuth.requireScopes('me')).type.toBe<Guard>()
  expect(requireScopes).type.not.toBeCallableWith(['orders:read'])
  expect(app.get('/orders', { onRequest: requireScopes('orders:read') }, async (request) => userOf(request).username)).type.not.toRaiseError()
})
