import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from './config.js'
import { isLongEnoughSecret, MIN_SECRET_BYTES, parseDatabaseUrl } from '../index.js'

/** The generated secret's file: beside the database and named after it, so two databases in one folder never share a secret. */
export function secretFileFor (databasePath: string): string {
  return `${databasePath}.jwt-secret`
}

/**
 * JWT_SECRET when set. Otherwise the standalone service keeps a generated secret in a file
 * beside the SQLite database (mode 0600), so tokens survive restarts; with an in-memory
 * database the secret lives as long as the process. Either way it warns: production
 * deployments should set JWT_SECRET.
 */
export async function resolveJwtSecret (config: Config, log: FastifyBaseLogger): Promise<string> {
  if (config.JWT_SECRET !== undefined) return config.JWT_SECRET
  const location = parseDatabaseUrl(config.DATABASE_URL)
  // config.ts requires JWT_SECRET with PostgreSQL, where instances on several hosts must share it.
  if (location.engine !== 'sqlite') throw new Error('JWT_SECRET is required with a PostgreSQL DATABASE_URL')
  const { path } = location
  if (path === ':memory:') {
    log.warn('JWT_SECRET is not set: using a random secret for this process only; tokens end with it')
    return randomBytes(48).toString('base64url')
  }
  const file = secretFileFor(path)
  await mkdir(dirname(file), { recursive: true })
  // Written whole to a private temporary file, then linked into place: link() fails if the file
  // exists, so of several processes starting together one secret wins, and none reads it half-written.
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(temporary, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' })
  try {
    await link(temporary, file)
    log.warn({ file }, 'JWT_SECRET is not set: generated one and stored it beside the database; set JWT_SECRET in production')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    log.warn({ file }, 'JWT_SECRET is not set: using the secret stored beside the database')
  } finally {
    await unlink(temporary)
  }
  // Whoever can write or read this file can sign tokens for any user: trust it only if it is
  // this user's and nobody else's.
  const { mode, uid } = await stat(file)
  if ((mode & 0o077) !== 0 || (process.getuid !== undefined && uid !== process.getuid())) {
    throw new Error(`${file} must belong to this user with mode 0600 (it has ${(mode & 0o777).toString(8)}): fix it with chmod 600, delete it, or set JWT_SECRET`)
  }
  const secret = (await readFile(file, 'utf8')).trim()
  if (!isLongEnoughSecret(secret)) {
    throw new Error(`${file} holds a JWT secret shorter than ${MIN_SECRET_BYTES} bytes: delete it or set JWT_SECRET`)
  }
  return secret
}
