import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import {
  AccountRuleError, backupSqliteDatabase, KeyUnsealError, resealSecrets, BackupError, DatabaseUnavailableError, errors, hashPassword, newResourceServerSecret, parseDatabaseUrl,
  emailVerified, packageInfo, PasswordRuleError, RESOURCE_SERVER_ID_PATTERN, resourceServerSecretHash, tokenAuth, UsernameTakenError, type AccountIssue, type AppliedMigration, type AuditActor, type UserRecord
} from '../index.js'
import { cliActor, cliLogger } from './cli-audit.js'
import { resolveJwtSecret } from './secret.js'
import { ConfigError, loadConfig, loadEnvFile, type Config } from './config.js'
import { DatabaseStartError } from './db/database-marker.js'
import { openServiceDatabase } from './db/service-database.js'

const USAGE = `Usage: fastify-token-auth <command> [options]   (in this repository: npm run cli -- <command>)

Commands:
  --version, -v               print the package's name and version
  create-user NAME --password-stdin [--email E] [--full-name F] [--disabled]
  set-password NAME --password-stdin
  disable NAME
  enable NAME
  list [--json]               every account, with its disabled and admin flags
  sessions NAME [--json]      the user's live sessions
  revoke-sessions NAME        end every session of the user (signs them out everywhere)
  grant-admin NAME            make the user an administrator (a login may be granted the admin scope)
  verify-email NAME           mark the user's email address verified, as a verification mail would
  mfa-reset NAME              turn the user's second factor (TOTP and recovery codes) off: a lost authenticator
  revoke-admin NAME           take the user's admin rights and end their sessions holding admin
  hash-password --password-stdin
  new-resource-server NAME    a secret for a resource server to call POST /introspect with (printed once),
                              and the INTROSPECTION_CLIENTS entry to add for it
  rotate-key                  publish a new signing key (ES256, EdDSA, RS256), which signs once verifiers
                              have had time to fetch it; the running instances pick it up by themselves
  rekey --old-secret-stdin    seal the stored signing keys and TOTP secrets again under the current JWT_SECRET, after it
                              changed (the previous secret is read from standard input)
  migrate                     apply pending database migrations (for deploy pipelines)
  backup PATH                 write a consistent copy of the SQLite database to the new file PATH
                              (while the service runs; restore it as the README says)

The password is read from standard input (one trailing newline is dropped).
set-password and disable end every session of the user; revoke-admin those holding admin.
Each change of an account writes audit lines (the service's JSON log format) to standard error.
Uses DATABASE_URL, BCRYPT_COST, DATABASE_TIMEOUT_MS, ALLOW_EMPTY_DATABASE and the session settings
like the service.
Exit codes: 0 done, 1 refused (user exists, no such user, bad password) or database unavailable,
2 usage or configuration error.`

/** Where a run of the CLI reads and writes: the process's own streams and environment, or a test's. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
}

/** An error whose message is for the person at the terminal, with the exit code to use. */
class CliError extends Error {
  constructor (message: string, readonly exitCode: 1 | 2) {
    super(message)
  }
}

const usageError = (message: string) => new CliError(`${message}\n\n${USAGE}`, 2)

const OWN_CHANGES = [errors.OWN_ADMIN_RIGHTS, errors.OWN_ACCOUNT_DISABLED, errors.OWN_ACCOUNT_DELETED]

const COMMANDS = ['create-user', 'set-password', 'disable', 'enable', 'list', 'sessions', 'revoke-sessions', 'grant-admin', 'revoke-admin', 'verify-email', 'mfa-reset', 'hash-password', 'migrate', 'backup', 'rotate-key', 'rekey']

/** An optional profile field: empty means none. */
const profileField = (value: string | undefined) => value === undefined || value.trim() === '' ? null : value

const FLAGS = { email: '--email', fullName: '--full-name' } as const

/** What the person at the terminal is told about a field of create-user that breaks the API's rules: one line per field. */
function accountProblems (issues: AccountIssue[], given: { email: string | null, fullName: string | null }): string {
  const lines = new Map<string, string>()
  // A length problem says more than the format problem the same value also has.
  for (const issue of [...issues].sort((a, b) => Number(b.rule === 'maxLength') - Number(a.rule === 'maxLength'))) {
    if (lines.has(issue.field)) continue
    if (issue.field === 'username') lines.set(issue.field, 'A username is 3 to 64 letters, digits, dots, underscores or hyphens')
    else if (issue.rule === 'maxLength') lines.set(issue.field, `${FLAGS[issue.field]} must be at most ${String(issue.limit)} characters`)
    else if (issue.field === 'email') lines.set(issue.field, `--email is not a valid address: ${String(given.email)}`)
    else lines.set(issue.field, `${FLAGS[issue.field]} ${issue.message}`)
  }
  return [...lines.values()].join('\n')
}

async function readPassword (io: CliIo): Promise<string> {
  if (io.stdin.isTTY === true) io.stderr.write('Password (then Enter and Ctrl-D): ')
  const chunks: Buffer[] = []
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

/**
 * The auth plugin on the service's database, as any host registers it (not listening: no
 * routes are called), for its public API. It signs no token, so its secret is thrown away.
 */
async function pluginHost (db: Kysely<any>, config: Config, io: CliIo): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({ loggerInstance: cliLogger(io.stderr) as FastifyBaseLogger })
  try {
    await app.register(tokenAuth, {
      secret: randomBytes(32).toString('base64url'),
      database: db,
      bcryptCost: config.BCRYPT_COST,
      refreshTokenExpireDays: config.REFRESH_TOKEN_EXPIRE_DAYS,
      sessionMaxDays: config.SESSION_MAX_DAYS,
      refreshTokenReuseSeconds: config.REFRESH_TOKEN_REUSE_SECONDS,
      maxSessionsPerUser: config.MAX_SESSIONS_PER_USER,
      docs: false,
      throttle: false
    })
    await app.ready()
    return app
  } catch (error) {
    await app.close()
    throw error
  }
}

/** `rotate-key` and `rekey`: the signing keys in the database, under the service's own secret and algorithm. */
async function keyCommand (db: Kysely<any>, command: 'rotate-key' | 'rekey', config: Config, values: { 'old-secret-stdin'?: boolean }, io: CliIo, by: AuditActor): Promise<void> {
  const log = cliLogger(io.stderr) as FastifyBaseLogger
  const secret = await resolveJwtSecret(config, log)
  if (command === 'rekey') {
    if (values['old-secret-stdin'] !== true) throw usageError('rekey needs --old-secret-stdin (secrets are never taken as arguments)')
    const previous = await readPassword(io)
    try {
      const { signingKeys: keys, totpSecrets: totp } = await resealSecrets(db, previous, secret)
      log.info({ audit: 'signing_key.resealed', ...by, keys, totpSecrets: totp }, 'audit: signing_key.resealed')
      io.stdout.write(`Sealed ${keys} signing key${keys === 1 ? '' : 's'} and ${totp} TOTP secret${totp === 1 ? '' : 's'} again under the current JWT_SECRET\n`)
    } catch (error) {
      if (error instanceof KeyUnsealError) throw new CliError(`The previous secret does not open signing key ${error.kid} either: nothing was changed`, 1)
      if (errors.TOTP_SECRET_SEALED.is(error)) throw new CliError('The previous secret does not open every stored TOTP secret either: nothing was changed', 1)
      throw error
    }
    return
  }
  if (config.JWT_ALGORITHM === 'HS256') throw new CliError('JWT_ALGORITHM is HS256: there is no key pair to rotate (change JWT_SECRET instead, or sign with ES256)', 1)
  const app: FastifyInstance = Fastify({ loggerInstance: log })
  try {
    await app.register(tokenAuth, {
      secret,
      database: db,
      algorithm: config.JWT_ALGORITHM,
      jwksCacheSeconds: config.JWKS_CACHE_SECONDS,
      accessTokenExpireMinutes: config.ACCESS_TOKEN_EXPIRE_MINUTES,
      docs: false,
      throttle: false
    })
    await app.ready()
    const rotation = await app.tokenAuth.keys.rotate(by)
    io.stdout.write(rotation.created
      ? `Published signing key ${rotation.kid}; it signs from ${rotation.signsFrom}\n`
      : `A new signing key is waiting already: ${rotation.kid} signs from ${rotation.signsFrom}\n`)
  } finally {
    await app.close()
  }
}

const ended = (count: number) => count === 0 ? '' : ` (${count} session${count === 1 ? '' : 's'} ended)`

/** One account command, through the plugin's public API. */
async function accountCommand (app: FastifyInstance, command: string, username: string, values: Record<string, string | boolean | undefined>, io: CliIo, by: AuditActor) {
  const { accounts, sessions, users } = app.tokenAuth
  const out = (text: string) => { io.stdout.write(`${text}\n`) }
  const noSuchUser = () => new CliError(`No user named ${username}`, 1)
  const mustExist = async () => { if (await users.findByUsername(username) === undefined) throw noSuchUser() }
  switch (command) {
    case 'create-user': {
      const email = profileField(values.email as string | undefined)
      const fullName = profileField(values['full-name'] as string | undefined)
      const disabled = values.disabled === true
      try {
        await accounts.create({ username, password: await readPassword(io), email, fullName, disabled }, by)
      } catch (error) {
        if (error instanceof AccountRuleError) throw new CliError(accountProblems(error.issues, { email, fullName }), 1)
        if (error instanceof UsernameTakenError) throw new CliError(`User ${username} already exists (usernames are unique ignoring case)`, 1)
        throw error
      }
      out(`Created user ${username}${disabled ? ' (disabled)' : ''}`)
      return
    }
    case 'set-password': {
      // Before the password is asked for.
      await mustExist()
      const change = await accounts.setPassword(username, await readPassword(io), by)
      if (change === undefined) throw noSuchUser()
      out(`Password changed for ${username}${ended(change.endedSessions)}`)
      return
    }
    case 'disable': {
      const change = await accounts.disable(username, by)
      if (change === undefined) throw noSuchUser()
      out(`Disabled ${username}${ended(change.endedSessions)}`)
      return
    }
    case 'enable': {
      if (!await accounts.enable(username, by)) throw noSuchUser()
      out(`Enabled ${username}`)
      return
    }
    case 'sessions': {
      await mustExist()
      const live = (await sessions.list(username)).map((session) => ({
        id: session.id, created_at: session.createdAt, last_used_at: session.lastUsedAt, expires_at: session.expiresAt, user_agent: session.userAgent
      }))
      if (values.json === true) return out(JSON.stringify(live, null, 2))
      out('id\tcreated_at\tlast_used_at\texpires_at\tuser_agent')
      for (const session of live) {
        // A user agent is the client's text: no tabs or line breaks of its own in the table.
        const agent = (session.user_agent ?? '').replace(/[\t\r\n]/g, ' ')
        out(`${session.id}\t${session.created_at}\t${session.last_used_at}\t${session.expires_at}\t${agent}`)
      }
      return
    }
    case 'revoke-sessions': {
      await mustExist()
      const count = await sessions.endAll(username, by)
      out(`Ended ${count} session${count === 1 ? '' : 's'} of ${username}`)
      return
    }
    case 'grant-admin': {
      if (await accounts.setAdmin(username, true, by) === undefined) throw noSuchUser()
      out(`${username} is an administrator`)
      return
    }
    case 'verify-email': {
      const account = await accounts.adminUpdate(username, { emailVerified: true }, by)
      if (account === undefined) throw noSuchUser()
      out(`${account.email ?? ''} is the verified address of ${username}`)
      return
    }
    case 'mfa-reset': {
      if (!await accounts.resetMfa(username, by)) {
        await mustExist()
        out(`${username} has no second factor: nothing to turn off`)
        return
      }
      out(`The second factor of ${username} is off: the next login needs the password only`)
      return
    }
    case 'revoke-admin': {
      const change = await accounts.setAdmin(username, false, by)
      if (change === undefined) throw noSuchUser()
      const count = change.endedSessions
      out(`${username} is no longer an administrator: ended ${count} session${count === 1 ? '' : 's'} holding admin`)
      return
    }
    default: {
      if (users.list === undefined) throw new Error('the user store cannot list its accounts')
      const all = (await users.list()).map((user: UserRecord) => ({
        username: user.username, email: user.email, email_verified: emailVerified(user), full_name: user.fullName, disabled: user.disabled, is_admin: user.isAdmin === true
      }))
      if (values.json === true) return out(JSON.stringify(all, null, 2))
      out('username\tdisabled\tis_admin\temail\temail_verified\tfull_name')
      for (const user of all) out(`${user.username}\t${String(user.disabled)}\t${String(user.is_admin)}\t${user.email ?? ''}\t${String(user.email_verified)}\t${user.full_name ?? ''}`)
    }
  }
}

async function main (argv: string[], io: CliIo): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'password-stdin': { type: 'boolean', default: false },
      'old-secret-stdin': { type: 'boolean', default: false },
      email: { type: 'string' },
      'full-name': { type: 'string' },
      disabled: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false }
    }
  })
  const [command, name, ...extra] = positionals
  if (values.version) {
    const { name: packageName, version } = packageInfo()
    io.stdout.write(`${packageName} ${version}\n`)
    return
  }
  if (values.help || command === undefined) {
    io.stdout.write(`${USAGE}\n`)
    if (command === undefined && !values.help) throw new CliError('', 2)
    return
  }
  if (command === 'new-resource-server') {
    if (name === undefined) throw usageError('new-resource-server needs a name: the client id the resource server sends')
    if (extra.length > 0) throw usageError(`Unexpected argument: ${extra[0] as string}`)
    if (!new RegExp(RESOURCE_SERVER_ID_PATTERN).test(name)) throw usageError(`A resource server's name is 1 to 64 letters, digits, dots, underscores, tildes or hyphens: ${name}`)
    const secret = newResourceServerSecret()
    io.stdout.write(`Secret of ${name} (shown this once: give it to the resource server, which sends it with HTTP Basic as ${name}):\n` +
      `${secret}\n` +
      'Add this entry to INTROSPECTION_CLIENTS (comma-separated with any others) and restart the service:\n' +
      `${name}:${resourceServerSecretHash(secret)}\n`)
    return
  }
  const needsName = ['create-user', 'set-password', 'disable', 'enable', 'sessions', 'revoke-sessions', 'grant-admin', 'revoke-admin', 'verify-email', 'mfa-reset', 'backup'].includes(command)
  if (needsName && name === undefined) throw usageError(`${command} needs ${command === 'backup' ? 'the path of the new file' : 'a username'}`)
  if (extra.length > 0 || (!needsName && name !== undefined)) throw usageError(`Unexpected argument: ${extra[0] ?? name}`)
  const needsPassword = ['create-user', 'set-password', 'hash-password'].includes(command)
  if (needsPassword && !values['password-stdin']) throw usageError(`${command} needs --password-stdin (passwords are never taken as arguments)`)

  // A copy: the settings of an env file join this run's environment only.
  const env = { ...io.env }
  const mistyped: string[] = []
  const envFile = loadEnvFile(env, { onUnknown: (key, likely) => { mistyped.push(`${key} is not a setting and is ignored; did you mean ${likely}?`) } })
  for (const line of mistyped) io.stderr.write(`${envFile ?? 'the env file'}: ${line}\n`)
  const config = loadConfig(env, { server: false })
  if (command === 'hash-password') {
    io.stdout.write(`${await hashPassword(await readPassword(io), config.BCRYPT_COST)}\n`)
    return
  }
  if (!COMMANDS.includes(command)) throw usageError(`Unknown command: ${command}`)
  if (command === 'backup') {
    const location = parseDatabaseUrl(config.DATABASE_URL)
    if (location.engine !== 'sqlite' || location.path === ':memory:') throw usageError('backup copies a SQLite database file; for PostgreSQL use pg_dump')
  }

  // Checked against its marker and migrated, every table the service uses (see openServiceDatabase).
  let applied: AppliedMigration[] = []
  const db = await openServiceDatabase(config.DATABASE_URL, {
    poolSize: 1,
    timeoutMs: config.DATABASE_TIMEOUT_MS,
    allowEmpty: config.ALLOW_EMPTY_DATABASE,
    warn: (message) => { io.stderr.write(`${message}\n`) },
    migrated: (migrations) => { applied = migrations }
  })
  try {
    if (command === 'migrate') {
      for (const { name, table, engine, durationMs } of applied) io.stdout.write(`Applied ${name} of ${table} (${engine}, ${durationMs} ms)\n`)
      io.stdout.write(applied.length === 0 ? 'Nothing to apply: every migration was applied before\n' : `Migrations applied: ${applied.length}\n`)
      return
    }
    if (command === 'backup') {
      const destination = resolve(name as string)
      try {
        await backupSqliteDatabase(db, destination)
      } catch (error) {
        if (error instanceof BackupError) throw new CliError(error.message, 1)
        throw error
      }
      io.stdout.write(`Backup written to ${destination}\n`)
      return
    }
    if (command === 'rotate-key' || command === 'rekey') {
      await keyCommand(db, command, config, values, io, cliActor(env))
      return
    }
    const app = await pluginHost(db, config, io)
    try {
      await accountCommand(app, command, name as string, values, io, cliActor(env))
    } finally {
      await app.close()
    }
  } finally {
    await db.destroy()
  }
}

/**
 * Runs the CLI with `argv` (the arguments after the script) and answers its exit code: 0 done,
 * 1 refused or the database unavailable, 2 a usage or configuration error. What it has to say
 * goes to `io.stdout` and `io.stderr`, passwords come from `io.stdin`, settings from `io.env`
 * (and the env file it names). An unexpected error rejects.
 */
export async function run (argv: string[], io: CliIo): Promise<number> {
  try {
    await main(argv, io)
    return 0
  } catch (error) {
    const fail = (message: string, code: number) => {
      if (message !== '') io.stderr.write(`${message}\n`)
      return code
    }
    if (error instanceof CliError) return fail(error.message, error.exitCode)
    if (error instanceof PasswordRuleError) return fail(error.problem, 1)
    // An account's change of itself the accounts refuse (the CLI's actor is 'cli').
    if (OWN_CHANGES.some((entry) => entry.is(error))) return fail((error as Error).message, 1)
    if (errors.EMAIL_MISSING.is(error)) return fail((error as Error).message, 1)
    if (error instanceof DatabaseStartError || errors.MISSING_PACKAGE.is(error) || errors.KEYS_SEALED.is(error)) return fail((error as Error).message, 1)
    if (error instanceof DatabaseUnavailableError) {
      return fail(`The database is unavailable: ${String((error.cause as Error | undefined)?.message ?? error.message)}`, 1)
    }
    if (error instanceof ConfigError) return fail(error.message, 2)
    if (error instanceof TypeError && (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true) {
      return fail(`${error.message}\n\n${USAGE}`, 2)
    }
    throw error
  }
}
