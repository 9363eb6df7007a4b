import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AccountEvent, AccountAudit, AuditActor } from '../src/accounts/accounts.js'
import type { AuthMetrics } from './auth-metrics.js'

/** The security-relevant actions the log records, one event each. */
export type AuditEvent =
  | 'login.succeeded' | 'login.failed' | 'login.throttled' | 'login.mfa_required'
  | 'token.refreshed' | 'token.reuse_detected' | 'token.revoked'
  | 'logout' | 'session.ended'
  | AccountEvent
  | 'request.throttled'
  | 'signing_key.rotated'
  | 'introspection.refused'

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
  /**
   * The audit of changes made through the public API (by the host, or the service's CLI): lines
   * on `log` that name `by.actor` (and the caller's other fields) where a request's lines name
   * the client's address.
   */
  as (log: FastifyBaseLogger, by: AuditActor): AccountAudit & ((event: AuditEvent, fields?: AuditFields) => void)
  /** The audit of the account changes a request makes (see src/accounts/accounts.ts). */
  of (request: Pick<FastifyRequest, 'log' | 'ip'>): AccountAudit
}

/** The audit trail, counted in `metrics` (none: lines only). */
export function createAudit (metrics: AuthMetrics | null): Audit {
  const count = (event: AuditEvent, fields: AuditFields = {}) => { metrics?.audited(event, fields) }
  const audit = function audit (request: Pick<FastifyRequest, 'log' | 'ip'>, event: AuditEvent, fields: AuditFields = {}) {
    request.log.info({ audit: event, client: request.ip, ...fields }, `audit: ${event}`)
    count(event, fields)
  }
  return Object.assign(audit, {
    count,
    as (log: FastifyBaseLogger, by: AuditActor) {
      // The event is the audit's own: a caller's field of that name does not replace it.
      const { audit: _event, ...who } = by
      return (event: AuditEvent, fields: AuditFields = {}) => {
        log.info({ audit: event, ...who, ...fields }, `audit: ${event}`)
        count(event, fields)
      }
    },
    of: (request: Pick<FastifyRequest, 'log' | 'ip'>): AccountAudit => (event, fields) => { audit(request, event, fields) }
  })
}
