import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet'
import Fastify from 'fastify'
import fp from 'fastify-plugin'

// helmet's defaults, with the Content-Security-Policy of a JSON answer: it loads nothing, runs
// nothing and is framed by no one, should a browser ever open one as a page.
const OPTIONS: FastifyHelmetOptions = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
}

let headers: Promise<Readonly<Record<string, string>>> | undefined

/** The headers @fastify/helmet sets with OPTIONS, as it sets them on one request to a throwaway app. */
async function helmetHeaders (): Promise<Readonly<Record<string, string>>> {
  const probe = Fastify({ logger: false })
  try {
    await probe.register(fastifyHelmet, OPTIONS)
    // Until the reply is written, the raw response holds only what helmet's hooks set on it.
    probe.get('/', async (_request, reply) => reply.raw.getHeaders())
    return Object.freeze((await probe.inject({ method: 'GET', url: '/' })).json<Record<string, string>>())
  } finally {
    await probe.close()
  }
}

/**
 * The standalone service's security headers, on every answer. Registered on the service,
 * @fastify/helmet would build helmet's middleware anew for each request; with fixed options its headers never change, so helmet works
 * them out once per process and one hook sets them. The doc pages replace the policy with
 * their own (plugins/docs-csp.ts). The embeddable plugin never registers this: its host owns
 * its headers.
 */
export default fp(async function securityHeaders (app) {
  const set = await (headers ??= helmetHeaders())
  app.addHook('onRequest', function addSecurityHeaders (_request, reply, done) {
    reply.headers(set)
    done()
  })
}, { name: 'token-auth/security-headers', fastify: '5.x' })
