import cluster, { type Worker } from 'node:cluster'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import { pino, type BaseLogger, type Logger } from 'pino'
import { addressLimit, ConfigError, corsOrigins, introspectionClients, loadConfig, loadEnvFile, trustProxy, trustProxyRisk, workerCount, type Config } from './config.js'
import { errors, parseDatabaseUrl, type AppliedMigration } from '../index.js'
import { DatabaseStartError } from './db/database-marker.js'
import { isUnreachable, openServiceDatabase, postgresTarget, startFailureReason } from './db/service-database.js'
import { serviceFastifyOptions } from './fastify-options.js'
import { logDestination, loggerOptions } from './logger.js'
import { primaryMetrics, processMetrics } from './metrics/process-metrics.js'
import { resolveJwtSecret } from './secret.js'
import { NO_MAIL_HINT, serviceMail } from './mail/transport.js'
import service, { type ServiceMetricsOptions } from './app.js'

type StartLog = Pick<BaseLogger, 'info' | 'warn'>

const FIRST_RETRY_MS = 250
const MAX_RETRY_MS = 5000

/**
 * Before a process serves or forks workers: a SQLite file is checked against its marker (an
 * empty database where one existed is refused), then the database is migrated and marked.
 * PostgreSQL out of reach is tried again, backing off, for DATABASE_CONNECT_TIMEOUT_SECONDS;
 * then, or on any other failure, a DatabaseStartError says why in one line (a driver not
 * installed: the package's MISSING_PACKAGE error, naming the command). `announce`: say
 * so when there is nothing to migrate (the primary or the only process, not every worker).
 */
async function prepareDatabase (config: Config, log: StartLog, { announce }: { announce: boolean }) {
  const { engine } = parseDatabaseUrl(config.DATABASE_URL)
  const started = performance.now()
  const deadline = started + config.DATABASE_CONNECT_TIMEOUT_SECONDS * 1000
  for (let attempt = 1, delay = FIRST_RETRY_MS; ; attempt++, delay = Math.min(delay * 2, MAX_RETRY_MS)) {
    try {
      const db = await openServiceDatabase(config.DATABASE_URL, {
        timeoutMs: config.DATABASE_TIMEOUT_MS,
        allowEmpty: config.ALLOW_EMPTY_DATABASE,
        warn: (message) => { log.warn(message) },
        migrated: (applied) => { reportMigrations(log, engine, applied, announce) }
      })
      await db.destroy()
      return
    } catch (error) {
      if (engine !== 'postgres' || error instanceof DatabaseStartError || errors.MISSING_PACKAGE.is(error)) throw error
      const problem = `Cannot use ${postgresTarget(config.DATABASE_URL)}: ${startFailureReason(error)}`
      const left = deadline - performance.now()
      if (!isUnreachable(error)) throw new DatabaseStartError(problem, { cause: error })
      if (left <= 0) {
        const tries = `${attempt} ${attempt === 1 ? 'try' : 'tries'} in ${Math.round((performance.now() - started) / 1000)} s`
        throw new DatabaseStartError(`${problem}; gave up after ${tries} (DATABASE_CONNECT_TIMEOUT_SECONDS=${config.DATABASE_CONNECT_TIMEOUT_SECONDS})`, { cause: error })
      }
      const wait = Math.round(Math.min(delay, left))
      log.warn({ attempt, retryInMs: wait }, `${problem}; trying again in ${wait} ms`)
      await sleep(wait)
    }
  }
}

/** One line per migration applied, or one saying there was nothing to apply. */
function reportMigrations (log: StartLog, engine: string, applied: AppliedMigration[], announce: boolean) {
  for (const { name, table, durationMs } of applied) {
    log.info({ migration: name, table, engine, durationMs }, `migration applied: ${name} (${engine}, ${durationMs} ms)`)
  }
  if (applied.length === 0 && announce) log.info({ engine }, `migrations: nothing to apply (${engine})`)
}

/** A line said once at start-up however many workers there are: a worker sends it to the primary, which logs each once. */
interface StartupHint { level: 'info' | 'warn', fields: Record<string, unknown>, msg: string }

/** The key of a worker's message to the primary that carries a StartupHint. */
const HINT_MESSAGE = 'token-auth:startup-hint'

function isHintMessage (message: unknown): message is { [HINT_MESSAGE]: StartupHint } {
  return typeof message === 'object' && message !== null && HINT_MESSAGE in message
}

/** Where this process's start-up hints go: its own log, or in a worker the primary. */
function hintSink (log: StartLog): (hint: StartupHint) => void {
  if (cluster.isWorker) return (hint) => { process.send?.({ [HINT_MESSAGE]: hint }) }
  return (hint) => { log[hint.level](hint.fields, hint.msg) }
}

/** The standalone service as a Fastify instance, ready to listen. */
async function buildServer (config: Config, metrics?: ServiceMetricsOptions) {
  const options = serviceFastifyOptions(config.LOG_LEVEL)
  const app = Fastify({ ...options, trustProxy: trustProxy(config.TRUST_PROXY) })
  app.addHook('onClose', async () => { options.logController.flush() })
  // A worker checks too: one started after the file was deleted must not begin an empty
  // database there. (An in-memory database is migrated where the plugin opens it.)
  const location = parseDatabaseUrl(config.DATABASE_URL)
  if (location.engine === 'postgres' || location.path !== ':memory:') await prepareDatabase(config, app.log, { announce: !cluster.isWorker })
  // Fastify's close() closes the keep-alive sockets that are idle when it starts, then waits for
  // the rest. A socket whose request was in flight turns idle once answered: close those as they
  // do, so the close ends promptly (and without an onSend hook costing every request).
  app.addHook('preClose', async () => {
    const sweep = setInterval(() => { app.server.closeIdleConnections() }, 50)
    app.server.once('close', () => { clearInterval(sweep) })
  })
  const secret = await resolveJwtSecret(config, app.log)
  const hint = hintSink(app.log)
  const mail = serviceMail(config, app.log)
  if (mail === undefined) hint({ level: 'info', fields: {}, msg: NO_MAIL_HINT })
  await app.register(service, {
    mail,
    startupHint: (msg) => { hint({ level: 'warn', fields: {}, msg }) },
    secret,
    database: config.DATABASE_URL,
    databaseOptions: { poolSize: config.DATABASE_POOL_SIZE, timeoutMs: config.DATABASE_TIMEOUT_MS },
    algorithm: config.JWT_ALGORITHM,
    keyRotationDays: config.JWT_KEY_ROTATION_DAYS,
    jwksCacheSeconds: config.JWKS_CACHE_SECONDS,
    clientId: config.CLIENT_ID,
    accessTokenExpireMinutes: config.ACCESS_TOKEN_EXPIRE_MINUTES,
    refreshTokenExpireDays: config.REFRESH_TOKEN_EXPIRE_DAYS,
    sessionMaxDays: config.SESSION_MAX_DAYS,
    refreshTokenReuseSeconds: config.REFRESH_TOKEN_REUSE_SECONDS,
    maxSessionsPerUser: config.MAX_SESSIONS_PER_USER,
    bcryptCost: config.BCRYPT_COST,
    registration: config.REGISTRATION,
    passwordResetMinutes: config.PASSWORD_RESET_MINUTES,
    emailVerificationMinutes: config.EMAIL_VERIFICATION_MINUTES,
    requireVerifiedEmail: config.REQUIRE_VERIFIED_EMAIL,
    totpIssuer: config.TOTP_ISSUER ?? config.SERVICE_NAME,
    ...(config.PWNED_PASSWORDS_URL !== undefined && { pwnedPasswords: { url: config.PWNED_PASSWORDS_URL, failClosed: config.PWNED_PASSWORDS_FAIL_CLOSED } }),
    redisUrl: config.REDIS_URL,
    corsOrigins: corsOrigins(config.CORS_ORIGINS),
    metrics,
    publicUrl: config.PUBLIC_URL,
    resourceServers: introspectionClients(config.INTROSPECTION_CLIENTS),
    throttle: {
      token: addressLimit(config.RATE_LIMIT_TOKEN),
      registration: addressLimit(config.RATE_LIMIT_REGISTRATION),
      revoke: addressLimit(config.RATE_LIMIT_REVOKE),
      passwordChange: addressLimit(config.RATE_LIMIT_PASSWORD_CHANGE),
      sessions: addressLimit(config.RATE_LIMIT_SESSIONS),
      introspect: addressLimit(config.RATE_LIMIT_INTROSPECT),
      recovery: addressLimit(config.RATE_LIMIT_RECOVERY),
      mfa: addressLimit(config.RATE_LIMIT_MFA),
      otpFailuresPerHour: config.OTP_FAILURES_PER_HOUR === 0 ? false : config.OTP_FAILURES_PER_HOUR,
      loginBackoffAfter: config.LOGIN_BACKOFF_AFTER === 0 ? false : config.LOGIN_BACKOFF_AFTER,
      loginBackoffMaxSeconds: config.LOGIN_BACKOFF_MAX_SECONDS,
      loginFailuresPerHour: config.LOGIN_FAILURES_PER_HOUR
    }
  })
  return app
}

/** How long a serving process may take to close before it exits 1 regardless. */
const SERVE_GRACE_MS = 10_000

/** One process serving HTTP: the only process with WORKERS=1, else each worker. */
async function serve (config: Config, envFile: string | undefined) {
  // A worker leaves shutdown to the primary: Ctrl-C reaches the whole process group, and the
  // primary's SIGTERM must not count as a second signal that cuts requests short. Ignored from
  // the start, so a worker still starting is stopped by that SIGTERM too.
  const worker = cluster.isWorker
  if (worker) process.on('SIGINT', () => {})
  const metrics = await processMetrics(config)
  const app = await buildServer(config, metrics?.service)
  let closing = false
  // close-with-grace exits at once on a second signal, so SIGTERM and SIGINT are handled below.
  const grace = closeWithGrace({ delay: SERVE_GRACE_MS, skip: ['SIGINT', 'SIGTERM'] }, async ({ signal, err }) => {
    closing = true
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else if (signal !== undefined) app.log.info({ signal }, 'closing')
    await app.close()
    await metrics?.close()
  })
  // SIGTERM, and SIGINT outside a worker: stop accepting, finish in-flight requests, close the
  // database. The same signals again during that are ignored: npm relays a signal its process
  // group got too, so one stop can arrive twice. The grace delay still bounds the close.
  let repeatLogged = false
  const stop = (signal: NodeJS.Signals) => {
    if (closing) {
      if (!repeatLogged) app.log.info({ signal }, 'already closing: signal ignored')
      repeatLogged = true
      return
    }
    closing = true
    app.log.info({ signal }, 'closing')
    grace.close()
  }
  process.on('SIGTERM', stop)
  if (!worker) process.on('SIGINT', stop)
  const address = await app.listen({ host: config.HOST, port: config.PORT })
  // Said once: by the primary when there are workers.
  const risk = trustProxyRisk(config)
  if (risk !== undefined && !worker) app.log.warn({ TRUST_PROXY: config.TRUST_PROXY, HOST: config.HOST }, risk)
  // Where clients reach it: PUBLIC_URL behind a proxy, else where it listens.
  const base = config.PUBLIC_URL ?? address
  hintSink(app.log)({ level: 'info', fields: { docs: `${base}/docs`, openapi: `${base}/openapi.json`, envFile }, msg: `API docs at ${base}/docs` })
  await metrics?.listen(app.log)
}

const SHUTDOWN_GRACE_MS = 15_000
const MAX_RESTART_DELAY_MS = 10_000

/**
 * The cluster primary: prepares what the workers share (migrations, the generated secret)
 * once, forks the workers, which share the port, replaces any that dies, and on SIGTERM or
 * SIGINT stops them all gracefully.
 */
async function supervise (config: Config, count: number, envFile: string | undefined) {
  const log: Logger = pino(loggerOptions(config.LOG_LEVEL), logDestination())
  await prepareDatabase(config, log, { announce: true })
  await resolveJwtSecret(config, log)
  await primaryMetrics(config, log)
  const risk = trustProxyRisk(config)
  if (risk !== undefined) log.warn({ TRUST_PROXY: config.TRUST_PROXY, HOST: config.HOST }, risk)

  let closing = false
  // A worker that keeps dying at start-up is restarted ever more slowly, not in a hot loop.
  let restartDelay = 0
  // Counted from when a worker first listens: one that dies before it ever served is failing at
  // start-up, however long its start took.
  const listeningSince = new WeakMap<Worker, number>()
  const fork = () => { cluster.fork() }

  cluster.on('exit', (worker, code, signal) => {
    if (closing) return
    const since = listeningSince.get(worker)
    const served = since === undefined ? 0 : Date.now() - since
    restartDelay = served < 5000 ? Math.min(Math.max(restartDelay * 2, 250), MAX_RESTART_DELAY_MS) : 0
    log.warn({ worker: worker.process.pid, code, signal, restartInMs: restartDelay }, 'worker died; starting a replacement')
    // Not unref'd: with every worker dead, this timer is all that keeps the primary alive.
    setTimeout(() => { if (!closing) fork() }, restartDelay)
  })
  // Each hint once, from whichever worker says it first (a replacement says it again).
  const hinted = new Set<string>()
  cluster.on('message', (_worker, message: unknown) => {
    if (!isHintMessage(message)) return
    const hint = message[HINT_MESSAGE]
    if (hinted.has(hint.msg)) return
    hinted.add(hint.msg)
    log[hint.level](hint.fields, hint.msg)
  })
  cluster.on('listening', (worker, address) => {
    if (!listeningSince.has(worker)) listeningSince.set(worker, Date.now())
    log.info({ worker: worker.process.pid, port: address.port }, 'worker listening')
  })

  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return
    closing = true
    log.info({ signal }, 'stopping workers')
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
    const force = setTimeout(() => {
      log.error('workers did not stop in time; killing them')
      for (const worker of workers) worker.process.kill('SIGKILL')
      // Should an exit never be reported, the primary still ends.
      setTimeout(() => { process.exit(1) }, 5000).unref()
    }, SHUTDOWN_GRACE_MS)
    let alive = workers.length
    let failed = false
    const done = () => {
      clearTimeout(force)
      log.info({ failed }, 'all workers stopped')
      process.exit(failed ? 1 : 0)
    }
    if (alive === 0) done()
    for (const worker of workers) {
      worker.once('exit', (code, signal) => {
        // A worker still starting has no handler yet and dies of the SIGTERM itself: nothing was
        // in flight, so that is a clean stop too.
        if (code !== 0 && signal !== 'SIGTERM') failed = true
        if (--alive === 0) done()
      })
      worker.process.kill('SIGTERM')
    }
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)

  log.info({ workers: count, envFile }, 'starting workers')
  for (let i = 0; i < count; i++) fork()
}

async function main () {
  let config: Config
  let envFile: string | undefined
  const mistyped: Array<{ key: string, likely: string }> = []
  const mistypedLine = ({ key, likely }: { key: string, likely: string }) => `${envFile ?? 'the env file'}: ${key} is not a setting and is ignored; did you mean ${likely}?`
  try {
    envFile = loadEnvFile(process.env, { onUnknown: (key, likely) => { mistyped.push({ key, likely }) } })
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${[error.message, ...mistyped.map(mistypedLine)].join('\n')}\n`)
    process.exit(1)
  }
  // Said once, before the database is waited for: by the primary, or the only process.
  if (cluster.isPrimary && mistyped.length > 0) {
    const log = pino(loggerOptions(config.LOG_LEVEL), logDestination())
    for (const typo of mistyped) log.warn({ envFile, key: typo.key, likely: typo.likely }, mistypedLine(typo))
  }
  const count = workerCount(config)
  try {
    if (count > 1 && cluster.isPrimary) await supervise(config, count, envFile)
    else await serve(config, envFile)
  } catch (error) {
    // Errors that say what to do: their message alone.
    if (!(error instanceof DatabaseStartError) && !errors.MISSING_PACKAGE.is(error)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
}

await main()
