import type { FastifyPluginAsync } from 'fastify'
import { ping } from '../src/core/db/database.js'
import { pathVariants } from '../src/core/route-paths.js'

/**
 * Probes for load balancers and orchestrators, left out of the API docs. `/health` answers
 * while the process runs (and names the worker's pid); `/health/ready` only while the
 * database answers too, else 503.
 */
const healthRoutes: FastifyPluginAsync = async function healthRoutes (app) {
  for (const { url } of pathVariants(app, '/health')) {
    app.get(url, { schema: { hide: true } }, async () => ({ status: 'ok', pid: process.pid }))
  }
  for (const { url } of pathVariants(app, '/health/ready')) {
    app.get(url, { schema: { hide: true } }, async () => {
      await ping(app.db)
      return { status: 'ready' }
    })
  }
}

export default healthRoutes
