import { randomBytes } from 'node:crypto'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { MIN_SECRET_BYTES, type Config } from './config.js'
import { parseDatabaseUrl } from './db/database.js'

export const SECRET_FILE_NAME = 'jwt-secret'

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
  const file = join(dirname(path), SECRET_FILE_NAME)
  await mkdir(dirname(file), { recursive: true })
  try {
    // 'wx' fails if the file exists, so two processes starting together keep one secret.
    await writeFile(file, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' })
    log.warn({ file }, 'JWT_SECRET is not set: generated one and stored it beside the database; set JWT_SECRET in production')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    log.warn({ file }, 'JWT_SECRET is not set: using the secret stored beside the database')
  }
  const mode = (await stat(file)).mode & 0o777
  if ((mode & 0o077) !== 0) log.warn({ file, mode: mode.toString(8) }, 'the JWT secret file is readable by other users: chmod 600 it')
  const secret = (await readFile(file, 'utf8')).trim()
  if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
    throw new Error(`${file} holds a JWT secret shorter than ${MIN_SECRET_BYTES} bytes: delete it or set JWT_SECRET`)
  }
  return secret
}
