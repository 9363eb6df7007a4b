import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AccountEvent, AuditActor } from '../src/accounts/accounts.js'
import type {} from './auth-metrics.js'

/** The security-relevant actions the log records, one event each. */
export type AuditEvent =
  | 'login.succeeded' | 'login.failed' | 'login.throttled'
  | 'token.refreshed' | 'token.reuse_detected' | 'token.revoked'
  | 'logout' | 'session.ended'
  | AccountEvent
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

/**
 * The audit of changes made through the public API (by the host, or the service's CLI): lines
 * on the plugin's logger that name `by.actor` (and the caller's other fields) where a request's
 * lines name the client's address.
 */
export function auditAs (app: Pick<FastifyInstance, 'log' | 'tokenAuthMetrics'>, by: AuditActor) {
  // The event is the audit's own: a caller's field of that name does not replace it.
  const { audit: _event, ...who } = by
  return (event: AuditEvent, fields: AuditFields = {}): void => {
    app.log.info({ audit: event, ...who, ...fields }, `audit: ${event}`)
    app.tokenAuthMetrics?.audited(event, fields)
  }
}
