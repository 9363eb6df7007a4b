import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import { ConfigError, loadConfig, type Config } from './config.js'
import { loggerOptions } from './logger.js'
import { resolveJwtSecret } from './secret.js'
import service from './service.js'

/** The standalone service as a Fastify instance, ready to listen. */
export async function buildServer (config: Config) {
  const app = Fastify({ logger: loggerOptions(config.LOG_LEVEL) })
  const secret = await resolveJwtSecret(config, app.log)
  await app.register(service, {
    secret,
    database: config.DATABASE_URL,
    accessTokenExpireMinutes: config.ACCESS_TOKEN_EXPIRE_MINUTES,
    bcryptCost: config.BCRYPT_COST,
    registration: config.REGISTRATION
  })
  return app
}

async function main () {
  let config: Config
  try {
    config = loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  }
  const app = await buildServer(config)
  // SIGINT/SIGTERM: stop accepting, finish in-flight requests, close the database.
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })
  await app.listen({ host: config.HOST, port: config.PORT })
}

await main()
