import type { Server } from 'node:http'
import type { FastifyHttpOptions } from 'fastify'
import { clientErrorHandler } from './client-errors.js'
import { fastifyLogger } from './logger.js'

/**
 * The Fastify options of the standalone service, shared by the server, the tests and the
 * benchmark's ceiling so all three measure the same thing.
 */
export function serviceFastifyOptions (logLevel: string): FastifyHttpOptions<Server> {
  return {
    logger: logLevel === 'silent' ? false : fastifyLogger(logLevel),
    // A request must arrive whole within 30 s, its headers within 20 s: a client dripping its body
    // cannot hold a socket for ever. Node checks these every connectionsCheckingInterval (30 s by
    // default, so a stalled body was held about 90 s): every second instead.
    requestTimeout: 30_000,
    http: { headersTimeout: 20_000, connectionsCheckingInterval: 1000 },
    clientErrorHandler,
    // `/users/me` and `/users/me/` are one route (no duplicate route compiled per path: a
    // quarter of start-up went to compiling schemas).
    routerOptions: { ignoreTrailingSlash: true }
  }
}
