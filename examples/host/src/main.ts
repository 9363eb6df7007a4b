import Fastify from 'fastify'
import tokenAuth from 'fastify-token-auth'
import orders from './orders.js'

const secret = process.env.JWT_SECRET ?? ''
if (Buffer.byteLength(secret) < 32) {
  process.stderr.write('Set JWT_SECRET to at least 32 bytes, for example: export JWT_SECRET="$(openssl rand -base64 48)"\n')
  process.exit(1)
}

const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })

// POST /auth/token, POST /auth/users/, GET /auth/users/me/, and the docs at /auth/docs.
await app.register(tokenAuth, {
  prefix: '/auth',
  secret,
  // 'sqlite:./data/app.db' keeps the accounts in a file; the default forgets them at exit.
  database: process.env.DATABASE_URL ?? 'sqlite::memory:'
})

// After the plugin, so that its guards are there to use.
await app.register(orders)

// Stop on Ctrl-C or SIGTERM: finish the requests in flight, close the database, then exit.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'closing')
    app.close().catch((err: unknown) => {
      app.log.error({ err }, 'close failed')
      process.exitCode = 1
    })
  })
}

await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
