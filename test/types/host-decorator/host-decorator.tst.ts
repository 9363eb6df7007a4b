import Fastify, { type FastifyRequest } from 'fastify'
import tokenAuth, { type Guard } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

// A host with an `authenticate` decorator of its own, of another type, renames the plugin's.
// This folder has no deliberate type errors: `tsc -p test/types/host-decorator` must pass too.
declare module 'fastify-token-auth' {
  interface TokenAuthTypes {
    decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false }
  }
}

type HostAuthenticate = (request: FastifyRequest) => boolean

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: HostAuthenticate
  }
}

const app = Fastify()

test("the host's own authenticate keeps its type", () => {
  expect(app.authenticate).type.toBe<HostAuthenticate>()
})

test("the plugin's guard is under the name the host gave it", () => {
  expect(app.register(tokenAuth, {
    secret: 'a-secret-of-at-least-thirty-two-bytes',
    database: 'sqlite::memory:',
    decorators: { authenticate: 'tokenAuthenticate', currentActiveUser: false }
  })).type.not.toRaiseError()
  expect(app.tokenAuthenticate).type.toBe<Guard>()
  expect(app.tokenAuth.currentActiveUser).type.toBe<Guard>()
})
