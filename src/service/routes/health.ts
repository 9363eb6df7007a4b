import type { FastifyPluginAsync } from 'fastify'
import { applyMigrations, errorResponses } from '../../index.js'
import { healthMigrations } from '../db/migrations/health.js'
import { probeWrite } from '../health/readiness.js'
import { Liveness, Readiness } from '../health/health-schemas.js'

/**
 * Probes for load balancers and orchestrators. `/health` answers while the process runs (and
 * names the worker's pid); `/health/ready` only while the database takes a write too (a tiny
 * one), else 503: a full disk or a read-only, failing, deleted or replaced database file
 * answers reads but not writes.
 */
const healthRoutes: FastifyPluginAsync = async function healthRoutes (app) {
  await applyMigrations(app.db, healthMigrations)
  const docs = { tags: ['health'], security: [] }
  // Typed as the probes' own answers: the refusals never come from the handlers.
  const refused = { '4xx': errorResponses.refusedByServer }
  app.get('/health', {
    schema: {
      ...docs,
      operationId: 'checkLiveness',
      summary: 'Liveness: the process runs',
      description: 'Answers 200 while the process runs, whatever the database does: restart the process when it does not.',
      response: { 200: { ...Liveness, description: 'The process runs; `pid` names the process (or worker) that answered' }, ...refused }
    }
  }, async () => ({ status: 'ok', pid: process.pid }))
  app.get('/health/ready', {
    schema: {
      ...docs,
      operationId: 'checkReadiness',
      summary: 'Readiness: the database takes a write',
      description: 'Answers 200 while the database takes a write (one tiny upsert), else 503: send traffic elsewhere until it is 200 again.',
      response: { 200: { ...Readiness, description: 'Ready: the database took a write' }, ...refused, 503: errorResponses.unavailable }
    }
  }, async () => {
    await probeWrite(app.db)
    return { status: 'ready' as const }
  })
}

export default healthRoutes
