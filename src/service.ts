import fp from 'fastify-plugin'
import errors from '../plugins/errors.js'
import items from '../plugins/items.js'
import healthRoutes from '../routes/health.js'
import itemRoutes from '../routes/items.js'
import authApi, { type AuthApiOptions } from './app.js'
import { addSchemas, itemSchemas } from './schemas/index.js'

export type ServiceOptions = Omit<AuthApiOptions, 'prefix' | 'decorators'>

/**
 * The standalone service: the auth plugin as any host would register it, plus the items
 * resource. `src/server.ts` runs it; tests build it on an in-memory database. Not encapsulated:
 * it is the root of its server.
 */
export default fp<ServiceOptions>(async function service (app, opts) {
  await app.register(errors, { notFound: true })
  addSchemas(app, itemSchemas)
  await app.register(authApi, opts)
  await app.register(items)
  await app.register(itemRoutes)
  await app.register(healthRoutes)

  app.addHook('onReady', async () => {
    if (await app.users.count() === 0) {
      app.log.warn('No users yet: create one with `npm run cli -- create-user NAME --password-stdin`' +
        (opts.registration === 'closed' ? '' : ' or POST /users/'))
    }
  })
}, { name: 'token-auth-service', fastify: '5.x' })
