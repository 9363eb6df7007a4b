import type { FastifyRequest } from 'fastify'
import type { AuthMetrics } from './auth-metrics.js'

/** The security-relevant actions the log records, one event each. */
export type AuditEvent =
  | 'login.succeeded' | 'login.failed' | 'login.throttled'
  | 'token.refreshed' | 'token.reuse_detected' | 'token.revoked'
  | 'logout' | 'session.ended' | 'password.changed' | 'password.check_failed'
  | 'user.registered' | 'user.deleted'
  | 'request.throttled'

export interface AuditFields {
  username?: string
  session?: string
  reason?: string
  [field: string]: string | number | boolean | undefined
}

/** The audit trail of one plugin instance. */
export interface Audit {
  /**
   * One structured line per security-relevant action, at info: `audit` names the event, `client`
   * is the caller's address (the proxy's client, under trustProxy). Never a password or a token:
   * callers pass names, ids and reasons only. The plugin's metrics, when on, count the event.
   */
  (request: Pick<FastifyRequest, 'log' | 'ip'>, event: AuditEvent, fields?: AuditFields): void
  /** Counts an event in the metrics without a line of its own (a repeat that a summary line will report). */
  count (event: AuditEvent, fields?: AuditFields): void
}

/** The audit trail, counted in `metrics` (none: lines only). */
export function createAudit (metrics: AuthMetrics | null): Audit {
  const count = (event: AuditEvent, fields: AuditFields = {}) => { metrics?.audited(event, fields) }
  return Object.assign(function audit (request: Pick<FastifyRequest, 'log' | 'ip'>, event: AuditEvent, fields: AuditFields = {}) {
    request.log.info({ audit: event, client: request.ip, ...fields }, `audit: ${event}`)
    count(event, fields)
  }, { count })
}
