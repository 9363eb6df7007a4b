import Fastify from 'fastify'
import { loadConfig } from '../src/config.js'
import { createDatabase } from '../src/core/db/database.js'
import { migrateToLatest } from '../src/core/db/migrate.js'
import { usersMigrations } from '../src/core/db/migrations/users.js'
import { createKyselyUserStore } from '../src/core/kysely-user-store.js'
import type { UserStore } from '../src/core/user-store.js'
import { serviceFastifyOptions } from '../src/fastify-options.js'
import tokenAuth from '../src/token-auth.js'

// The plugin on the built-in SQLite store as it is (`private`: the guards use the store's
// private synchronous profile lookup), or behind a plain UserStore of the same methods
// (`public`: the guards read through findByUsername, as with any host's store). The two
// differ in that lookup alone, which is what the bench measures.
const config = loadConfig(process.env)
const db = createDatabase(config.DATABASE_URL, { timeoutMs: config.DATABASE_TIMEOUT_MS })
await migrateToLatest(db, usersMigrations, 'auth_migrations')
const builtIn = createKyselyUserStore(db)
const store: UserStore = process.argv[2] === 'public'
  ? {
      findByUsername: async (username) => await builtIn.findByUsername(username),
      create: async (user) => await builtIn.create(user),
      setPassword: async (username, hash) => await builtIn.setPassword(username, hash),
      replaceHash: async (username, hash) => { await builtIn.replaceHash(username, hash) },
      setDisabled: async (username, disabled) => await builtIn.setDisabled(username, disabled)
    }
  : builtIn
const app = Fastify(serviceFastifyOptions(config.LOG_LEVEL))
app.addHook('onClose', async () => { await db.destroy() })
await app.register(tokenAuth, { secret: config.JWT_SECRET as string, store, bcryptCost: config.BCRYPT_COST, docs: false })
app.get('/health', async () => ({ status: 'ok' }))
await app.listen({ host: config.HOST, port: config.PORT })
