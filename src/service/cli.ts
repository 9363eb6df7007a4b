#!/usr/bin/env node
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { cliAudit } from './cli-audit.js'
import { ConfigError, loadConfig, loadEnvFile } from './config.js'
import { createKyselyUserStore } from '../accounts/kysely-user-store.js'
import { createSessionStore } from '../sessions/session-store.js'
import { hashPassword, passwordLengthProblem } from '../accounts/passwords.js'
import { toPublicUser, UsernameTakenError } from '../accounts/user-store.js'
import { backupSqliteDatabase, BackupError, parseDatabaseUrl } from '../db/database.js'
import { DatabaseStartError } from './db/database-marker.js'
import { openServiceDatabase } from './db/service-database.js'
import { errors } from '../index.js'
import { EMAIL_MAX_LENGTH, FULL_NAME_MAX_LENGTH, USERNAME_PATTERN } from '../schemas/user.js'

const USAGE = `Usage: fastify-token-auth <command> [options]   (in this repository: npm run cli -- <command>)

Commands:
  create-user NAME --password-stdin [--email E] [--full-name F] [--disabled]
  set-password NAME --password-stdin
  disable NAME
  enable NAME
  list [--json]
  sessions NAME [--json]      the user's live sessions
  revoke-sessions NAME        end every session of the user (signs them out everywhere)
  hash-password --password-stdin
  migrate                     apply pending database migrations (for deploy pipelines)
  backup PATH                 write a consistent copy of the SQLite database to the new file PATH
                              (while the service runs; restore it as the README says)

The password is read from standard input (one trailing newline is dropped).
set-password and disable end every session of the user.
Each change of an account writes audit lines (the service's JSON log format) to standard error.
Uses DATABASE_URL, BCRYPT_COST, DATABASE_TIMEOUT_MS, ALLOW_EMPTY_DATABASE and the session settings
like the service.
Exit codes: 0 done, 1 refused (user exists, no such user, bad password) or database unavailable,
2 usage or configuration error.`

/** An error whose message is for the person at the terminal, with the exit code to use. */
class CliError extends Error {
  constructor (message: string, readonly exitCode: 1 | 2) {
    super(message)
  }
}

const usageError = (message: string) => new CliError(`${message}\n\n${USAGE}`, 2)

// The same rules POST /users/ applies through the UserCreate schema (ajv's email format).
const EMAIL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i

/** An optional profile field: empty means none; otherwise it must pass the API's rules. */
function profileField (value: string | undefined, name: string, maxLength: number, pattern?: RegExp): string | null {
  if (value === undefined || value.trim() === '') return null
  if (value.length > maxLength) throw new CliError(`${name} must be at most ${maxLength} characters`, 1)
  if (pattern !== undefined && !pattern.test(value)) throw new CliError(`${name} is not a valid address: ${value}`, 1)
  return value
}

async function readPassword (): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (then Enter and Ctrl-D): ')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

async function readNewPassword (): Promise<string> {
  const password = await readPassword()
  const problem = passwordLengthProblem(password)
  if (problem !== undefined) throw new CliError(problem, 1)
  return password
}

async function run (argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'password-stdin': { type: 'boolean', default: false },
      email: { type: 'string' },
      'full-name': { type: 'string' },
      disabled: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  const [command, name, ...extra] = positionals
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`)
    if (command === undefined && !values.help) throw new CliError('', 2)
    return
  }
  const needsName = ['create-user', 'set-password', 'disable', 'enable', 'sessions', 'revoke-sessions', 'backup'].includes(command)
  if (needsName && name === undefined) throw usageError(`${command} needs ${command === 'backup' ? 'the path of the new file' : 'a username'}`)
  if (extra.length > 0 || (!needsName && name !== undefined)) throw usageError(`Unexpected argument: ${extra[0] ?? name}`)
  const needsPassword = ['create-user', 'set-password', 'hash-password'].includes(command)
  if (needsPassword && !values['password-stdin']) throw usageError(`${command} needs --password-stdin (passwords are never taken as arguments)`)

  loadEnvFile()
  const config = loadConfig(process.env, { server: false })
  if (command === 'hash-password') {
    process.stdout.write(`${await hashPassword(await readNewPassword(), config.BCRYPT_COST)}\n`)
    return
  }
  if (!['create-user', 'set-password', 'disable', 'enable', 'list', 'sessions', 'revoke-sessions', 'migrate', 'backup'].includes(command)) throw usageError(`Unknown command: ${command}`)
  if (command === 'backup') {
    const location = parseDatabaseUrl(config.DATABASE_URL)
    if (location.engine !== 'sqlite' || location.path === ':memory:') throw usageError('backup copies a SQLite database file; for PostgreSQL use pg_dump')
  }

  const db = await openServiceDatabase(config.DATABASE_URL, {
    poolSize: 1,
    timeoutMs: config.DATABASE_TIMEOUT_MS,
    allowEmpty: config.ALLOW_EMPTY_DATABASE,
    warn: (message) => { process.stderr.write(`${message}\n`) }
  })
  try {
    if (command === 'migrate') {
      process.stdout.write('Migrations applied\n')
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
      process.stdout.write(`Backup written to ${destination}\n`)
      return
    }
    const users = createKyselyUserStore(db)
    const sessions = createSessionStore(db, {
      refreshTokenExpireDays: config.REFRESH_TOKEN_EXPIRE_DAYS,
      sessionMaxDays: config.SESSION_MAX_DAYS,
      refreshTokenReuseSeconds: config.REFRESH_TOKEN_REUSE_SECONDS,
      maxSessionsPerUser: config.MAX_SESSIONS_PER_USER
    })
    const username = name as string
    const audit = cliAudit()
    const ended = (count: number) => count === 0 ? '' : ` (${count} session${count === 1 ? '' : 's'} ended)`
    switch (command) {
      case 'create-user': {
        if (!new RegExp(USERNAME_PATTERN).test(username)) {
          throw new CliError('A username is 3 to 64 letters, digits, dots, underscores or hyphens', 1)
        }
        const email = profileField(values.email, '--email', EMAIL_MAX_LENGTH, EMAIL)
        const fullName = profileField(values['full-name'], '--full-name', FULL_NAME_MAX_LENGTH)
        const hashedPassword = await hashPassword(await readNewPassword(), config.BCRYPT_COST)
        try {
          await users.create({ username, hashedPassword, email, fullName, disabled: values.disabled })
        } catch (error) {
          if (error instanceof UsernameTakenError) throw new CliError(`User ${username} already exists (usernames are unique ignoring case)`, 1)
          throw error
        }
        audit('user.created', values.disabled ? { username, disabled: true } : { username })
        process.stdout.write(`Created user ${username}${values.disabled ? ' (disabled)' : ''}\n`)
        return
      }
      case 'set-password': {
        if (await users.findByUsername(username) === undefined) throw new CliError(`No user named ${username}`, 1)
        await users.setPassword(username, await hashPassword(await readNewPassword(), config.BCRYPT_COST))
        // Audited as soon as it is stored: ending the sessions may still fail.
        audit('password.changed', { username })
        const count = await sessions.endAll(username)
        audit('sessions.revoked', { username, endedSessions: count })
        process.stdout.write(`Password changed for ${username}${ended(count)}\n`)
        return
      }
      case 'disable':
      case 'enable': {
        if (!await users.setDisabled(username, command === 'disable')) throw new CliError(`No user named ${username}`, 1)
        audit(command === 'disable' ? 'user.disabled' : 'user.enabled', { username })
        const count = command === 'disable' ? await sessions.endAll(username) : 0
        if (command === 'disable') audit('sessions.revoked', { username, endedSessions: count })
        process.stdout.write(`${command === 'disable' ? 'Disabled' : 'Enabled'} ${username}${ended(count)}\n`)
        return
      }
      case 'sessions': {
        if (await users.findByUsername(username) === undefined) throw new CliError(`No user named ${username}`, 1)
        const live = (await sessions.list(username)).map((session) => ({
          id: session.id, created_at: session.createdAt, last_used_at: session.lastUsedAt, expires_at: session.expiresAt, user_agent: session.userAgent
        }))
        if (values.json) {
          process.stdout.write(`${JSON.stringify(live, null, 2)}\n`)
          return
        }
        process.stdout.write('id\tcreated_at\tlast_used_at\texpires_at\tuser_agent\n')
        for (const session of live) {
          // A user agent is the client's text: no tabs or line breaks of its own in the table.
          const agent = (session.user_agent ?? '').replace(/[\t\r\n]/g, ' ')
          process.stdout.write(`${session.id}\t${session.created_at}\t${session.last_used_at}\t${session.expires_at}\t${agent}\n`)
        }
        return
      }
      case 'revoke-sessions': {
        if (await users.findByUsername(username) === undefined) throw new CliError(`No user named ${username}`, 1)
        const count = await sessions.endAll(username)
        audit('sessions.revoked', { username, endedSessions: count })
        process.stdout.write(`Ended ${count} session${count === 1 ? '' : 's'} of ${username}\n`)
        return
      }
      default: {
        const all = (await users.list()).map(toPublicUser)
        if (values.json) {
          process.stdout.write(`${JSON.stringify(all, null, 2)}\n`)
          return
        }
        process.stdout.write('username\tdisabled\temail\tfull_name\n')
        for (const user of all) {
          process.stdout.write(`${user.username}\t${String(user.disabled)}\t${user.email ?? ''}\t${user.full_name ?? ''}\n`)
        }
      }
    }
  } finally {
    await db.destroy()
  }
}

try {
  await run(process.argv.slice(2))
} catch (error) {
  if (error instanceof CliError) {
    if (error.message !== '') process.stderr.write(`${error.message}\n`)
    process.exitCode = error.exitCode
  } else if (error instanceof DatabaseStartError) {
    process.stderr.write(`${error.message}\n`)
    process.exitCode = 1
  } else if (errors.UNAVAILABLE.is(error)) {
    process.stderr.write(`The database is unavailable: ${String((error.cause as Error | undefined)?.message ?? error.message)}\n`)
    process.exitCode = 1
  } else if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`)
    process.exitCode = 2
  } else if (error instanceof TypeError && (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true) {
    process.stderr.write(`${error.message}\n\n${USAGE}\n`)
    process.exitCode = 2
  } else {
    throw error
  }
}
