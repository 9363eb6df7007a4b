import type { Server } from 'node:http'
import type { FastifyHttpOptions } from 'fastify'
import { clientErrorHandler, frameworkErrorHandler } from './client-errors.js'
import { fastifyLogger } from './logger.js'
import { buildSerializer, buildValidator } from './schema-compilers.js'
import { ThrottledRequestLog } from '../index.js'

/**
 * The Fastify options of the standalone service, shared by the server, the tests and the
 * benchmark's ceiling so all three measure the same thing.
 */
export function serviceFastifyOptions (logLevel: string): FastifyHttpOptions<Server> & { logController: ThrottledRequestLog } {
  return {
    logger: logLevel === 'silent' ? false : fastifyLogger(logLevel),
    logController: new ThrottledRequestLog(),
    // A request's line and headers must arrive within requestTimeout (30 s), the headers within
    // 20 s. Node checks these every connectionsCheckingInterval: every second, not the default 30.
    // (Node does not apply them to a body once the request is handed over.)
    requestTimeout: 30_000,
    http: { headersTimeout: 20_000, connectionsCheckingInterval: 1000 },
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    // Every problem of a request part, not the first: a 422 lists them all, as the plugin's routes do.
    ajv: { customOptions: { allErrors: true } },
    // `/users/me` and `/users/me/` are one route (no duplicate route compiled per path: a
    // quarter of start-up went to compiling schemas).
    routerOptions: { ignoreTrailingSlash: true },
    // The compilers of the service's own routes, made and kept once per process.
    schemaController: { compilersFactory: { buildValidator, buildSerializer } }
  }
}
