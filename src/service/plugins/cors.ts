import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

export interface CorsPluginOptions {
  /** Exact origins (`https://app.example.com`) whose pages may call the API; none: no CORS at all. */
  origins: readonly string[]
}

/** The methods of the API's routes; GET, HEAD and POST need no permission, PATCH and DELETE do. */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'] as const
/** Two hours: the longest a preflight is cached by Chromium (Firefox allows a day). */
export const CORS_MAX_AGE_SECONDS = 7200

// Bearer tokens travel in Authorization, never in cookies: no Access-Control-Allow-Credentials.
const ALLOWED: FastifyCorsOptions = {
  origin: true,
  methods: [...CORS_METHODS],
  allowedHeaders: ['Authorization', 'Content-Type'],
  exposedHeaders: ['WWW-Authenticate', 'Retry-After', 'Link', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
  maxAge: CORS_MAX_AGE_SECONDS,
  credentials: false
}
const REFUSED: FastifyCorsOptions = { origin: false }
const METHODS = new Set<string>(CORS_METHODS)

/**
 * CORS for the standalone service: pages of the listed origins may call every route, and read
 * its answers, errors included. Any other origin, and a preflight for a request that would
 * reach no route (an unknown path stays a 404), gets no CORS headers; a refused preflight
 * answers 404. A host that embeds the plugin brings its own CORS policy instead.
 */
export default fp<CorsPluginOptions>(async function cors (app, opts) {
  if (opts.origins.length === 0) return
  const origins = new Set(opts.origins)
  const admits = (request: FastifyRequest): boolean => {
    const origin = request.headers.origin
    if (origin === undefined || !origins.has(origin)) return false
    if (request.method !== 'OPTIONS') return true
    const method = request.headers['access-control-request-method']
    if (typeof method !== 'string' || !METHODS.has(method)) return false
    const query = request.url.indexOf('?')
    return app.findRoute({ method, url: query === -1 ? request.url : request.url.slice(0, query) }) !== null
  }
  await app.register(fastifyCors, {
    hook: 'onRequest',
    delegator: (request, callback) => { callback(null, admits(request) ? ALLOWED : REFUSED) }
  })
}, { name: 'token-auth/cors', fastify: '5.x', dependencies: ['token-auth/errors'] })
