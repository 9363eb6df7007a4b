import type { FastifyServerOptions } from 'fastify'
import { fastifyLogger } from './logger.js'

/**
 * The Fastify options of the standalone service, shared by the server, the tests and the
 * benchmark's ceiling so all three measure the same thing.
 */
export function serviceFastifyOptions (logLevel: string): FastifyServerOptions {
  return {
    logger: logLevel === 'silent' ? false : fastifyLogger(logLevel),
    // A request must arrive whole within 30 s: a client dripping its body cannot hold a socket for ever.
    requestTimeout: 30_000,
    // `/users/me` and `/users/me/` are one route (no duplicate route compiled per path: a
    // quarter of start-up went to compiling schemas).
    routerOptions: { ignoreTrailingSlash: true }
  }
}
