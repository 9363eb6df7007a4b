import type { FastifyRequest } from 'fastify'
import type {} from './auth-metrics.js'

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

/**
 * One structured line per security-relevant action, at info: `audit` names the event, `client`
 * is the caller's address (the proxy's client, under trustProxy). Never a password or a token:
 * callers pass names, ids and reasons only. The plugin's metrics, when on, count the event.
 */
export function audit (request: Pick<FastifyRequest, 'log' | 'ip' | 'server'>, event: AuditEvent, fields: AuditFields = {}): void {
  request.log.info({ audit: event, client: request.ip, ...fields }, `audit: ${event}`)
  countAudit(request, event, fields)
}

/** Counts an event in the plugin's metrics without a line of its own (a repeat that a summary line will report). */
export function countAudit (request: Pick<FastifyRequest, 'server'>, event: AuditEvent, fields: AuditFields = {}): void {
  request.server.tokenAuthMetrics?.audited(event, fields)
}
