import type { FastifyPluginAsync } from 'fastify'
import { migrateToLatest } from '../src/core/db/migrate.js'
import { healthMigrations } from '../src/core/db/migrations/health.js'
import { probeWrite } from '../src/core/db/readiness.js'
import { pathVariants } from '../src/core/route-paths.js'

/**
 * Probes for load balancers and orchestrators, left out of the API docs. `/health` answers
 * while the process runs (and names the worker's pid); `/health/ready` only while the
 * database takes a write too (a tiny one), else 503: a full disk or a read-only, failing,
 * deleted or replaced database file answers reads but not writes.
 */
const healthRoutes: FastifyPluginAsync = async function healthRoutes (app) {
  await migrateToLatest(app.db, healthMigrations, 'health_migrations')
  for (const { url } of pathVariants(app, '/health')) {
    app.get(url, { schema: { hide: true } }, async () => ({ status: 'ok', pid: process.pid }))
  }
  for (const { url } of pathVariants(app, '/health/ready')) {
    app.get(url, { schema: { hide: true } }, async () => {
      await probeWrite(app.db)
      return { status: 'ready' }
    })
  }
}

export default healthRoutes
