import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Gauge } from 'prom-client'
import { poolUsage } from '../src/db/database.js'
import type { PasswordHasher } from '../src/accounts/passwords.js'
import type { MetricsRegistry } from '../src/types.js'
import type { AuditEvent, AuditFields } from './audit.js'

/** What the audit trail reports to the metrics. */
export interface AuthMetrics {
  /** Counts one audit event. */
  audited (event: AuditEvent, fields: AuditFields): void
}

export interface AuthMetricsOptions {
  /** Where the metrics are registered; none: nothing is recorded. */
  registry?: MetricsRegistry
  /** The start of every metric name. */
  prefix: string
  /** What the gauges read at scrape time. */
  passwords: Pick<PasswordHasher, 'inFlight'>
  db: Kysely<any>
}

export { DEFAULT_METRICS_PREFIX } from '../src/options.js'

/** The names this plugin registers, without their prefix: a clash is found before anything opens. */
export const AUTH_METRIC_NAMES = [
  'logins_total', 'refreshes_total', 'refresh_token_reuse_detected_total', 'revocations_total', 'logouts_total',
  'sessions_ended_total', 'password_changes_total', 'registrations_total', 'users_deleted_total', 'requests_throttled_total',
  'bcrypt_in_flight', 'db_pool_connections', 'db_pool_idle_connections', 'db_pool_waiting_requests', 'db_pool_max_connections'
] as const

type MetricName = typeof AUTH_METRIC_NAMES[number]

// Every label value that can occur, set to 0 at start: a series exists before its first event.
const LOGIN_OUTCOMES = [
  { result: 'succeeded' }, { result: 'mfa_required' },
  { result: 'failed', reason: 'unknown_user' }, { result: 'failed', reason: 'wrong_password' },
  { result: 'throttled', reason: 'backoff' }, { result: 'throttled', reason: 'concurrent' }
]
const LOGOUT_SCOPES = ['local', 'others', 'global']
const LIMITS = ['token', 'registration', 'revoke', 'passwordChange', 'sessions']

/**
 * The plugin's own metrics in the host's registry: counters fed by the audit events, and gauges
 * read at scrape time (bcrypt operations in flight, the PostgreSQL pool). Nothing per request.
 * They leave the registry when the app closes.
 */
export async function registerAuthMetrics (app: FastifyInstance, opts: AuthMetricsOptions): Promise<AuthMetrics | null> {
  const registry = opts.registry
  if (registry === undefined) return null
  // Loaded only here: an app without metrics never pays for prom-client.
  const { Counter, Gauge } = await import('prom-client')
  const registers = [registry]
  const names: string[] = []
  const name = (metric: MetricName) => {
    names.push(`${opts.prefix}${metric}`)
    return `${opts.prefix}${metric}`
  }
  const counter = (metric: MetricName, help: string, labelNames: string[] = []) =>
    new Counter({ name: name(metric), help, labelNames, registers })

  const logins = counter('logins_total', 'Logins (password grants and their second steps), by result (succeeded, mfa_required, failed, throttled) and reason', ['result', 'reason'])
  const refreshes = counter('refreshes_total', 'Refresh grants answered with a new pair')
  const reuses = counter('refresh_token_reuse_detected_total', 'Spent refresh tokens presented after the reuse window: each ended its session')
  const revocations = counter('revocations_total', 'Revocations (POST /revoke) that ended a session')
  const logouts = counter('logouts_total', 'Logouts, by scope (local, others, global)', ['scope'])
  const sessionsEnded = counter('sessions_ended_total', 'Sessions ended by their user (DELETE /users/me/sessions/{id})')
  const passwordChanges = counter('password_changes_total', 'Passwords changed by their user')
  const registrations = counter('registrations_total', 'Accounts registered')
  const deletions = counter('users_deleted_total', 'Accounts deleted by their user')
  const throttled = counter('requests_throttled_total', 'Requests refused by a limit per client address, by limit', ['limit'])
  for (const labels of LOGIN_OUTCOMES) logins.inc(labels, 0)
  for (const scope of LOGOUT_SCOPES) logouts.inc({ scope }, 0)
  for (const limit of LIMITS) throttled.inc({ limit }, 0)
  for (const metric of [refreshes, reuses, revocations, sessionsEnded, passwordChanges, registrations, deletions]) metric.inc(0)

  const passwords = opts.passwords
  const bcrypt = new Gauge({
    name: name('bcrypt_in_flight'),
    help: 'bcrypt operations started and not finished (running or waiting for a thread), by operation (hash, verify)',
    labelNames: ['operation'],
    registers,
    collect () {
      const { hash, verify } = passwords.inFlight()
      bcrypt.set({ operation: 'hash' }, hash)
      bcrypt.set({ operation: 'verify' }, verify)
    }
  })

  // Only a pool this process opened can be seen into: PostgreSQL from a DATABASE_URL.
  const db = opts.db
  const pool = poolUsage(db)
  if (pool !== undefined) {
    const poolGauge = (metric: MetricName, help: string, read: (usage: NonNullable<ReturnType<typeof poolUsage>>) => number) => {
      const gauge: Gauge = new Gauge({
        name: name(metric),
        help,
        registers,
        collect () {
          const usage = poolUsage(db)
          if (usage !== undefined) gauge.set(read(usage))
        }
      })
    }
    poolGauge('db_pool_connections', 'PostgreSQL connections open (idle or in use)', (usage) => usage.total)
    poolGauge('db_pool_idle_connections', 'PostgreSQL connections open and idle', (usage) => usage.idle)
    poolGauge('db_pool_waiting_requests', 'Queries waiting for a PostgreSQL connection', (usage) => usage.waiting)
    poolGauge('db_pool_max_connections', 'The most PostgreSQL connections the pool opens', (usage) => usage.max)
  }
  app.addHook('onClose', async () => {
    for (const metric of names) registry.removeSingleMetric(metric)
  })

  return {
    audited (event, fields) {
      switch (event) {
        case 'login.succeeded': logins.inc({ result: 'succeeded' }); break
        case 'login.mfa_required': logins.inc({ result: 'mfa_required' }); break
        case 'login.failed': logins.inc({ result: 'failed', reason: String(fields.reason) }); break
        case 'login.throttled': logins.inc({ result: 'throttled', reason: String(fields.reason) }); break
        case 'token.refreshed': refreshes.inc(); break
        case 'token.reuse_detected': reuses.inc(); break
        case 'token.revoked': revocations.inc(); break
        case 'logout': logouts.inc({ scope: String(fields.scope) }); break
        case 'session.ended': sessionsEnded.inc(); break
        case 'password.changed': case 'password.reset': passwordChanges.inc(); break
        // Account recovery: the audit lines are its record.
        case 'password_reset.requested': case 'email.verification_sent': case 'recovery_mail.throttled': case 'email.verified': break
        // The second factor's changes: the audit lines are their record.
        case 'mfa.enrolment_started': case 'mfa.enabled': case 'mfa.disabled': case 'mfa.reset': case 'mfa.recovery_codes_replaced': case 'mfa.code_failed': break
        // A wrong password on a password change or deletion: the audit line is its record.
        case 'password.check_failed': break
        // An administrator's changes (the host's API, the CLI): the audit lines are their record.
        case 'user.created': case 'user.disabled': case 'user.enabled': case 'sessions.revoked': break
        case 'user.admin_granted': case 'user.admin_revoked': case 'user.updated': case 'sessions.revoked_all': break
        case 'user.registered': registrations.inc(); break
        case 'user.deleted': deletions.inc(); break
        case 'request.throttled': throttled.inc({ limit: String(fields.limit) }); break
        // A caller refused at the introspection endpoint: the audit line is its record.
        case 'introspection.refused': break
        // Rare, and the audit line names the key.
        case 'signing_key.rotated': break
        default: {
          const unmapped: never = event
          throw new Error(`fastify-token-auth: no metric for the audit event ${String(unmapped)}`)
        }
      }
    }
  }
}
