import fp from 'fastify-plugin'
import { applyMigrations } from '../../index.js'
import { itemsMigrations } from '../db/migrations/items.js'
import { createItemsRepository, type ItemsRepository } from '../items/items-repository.js'

declare module 'fastify' {
  interface FastifyInstance {
    items: ItemsRepository
  }
}

/** The standalone service's items resource, on the service's database (after the auth plugin migrated its users table). */
export default fp(async function items (app) {
  await applyMigrations(app.db, itemsMigrations)
  app.decorate('items', createItemsRepository(app.db))
}, { name: 'token-auth-service/items', dependencies: ['token-auth-service/database', 'fastify-token-auth'], fastify: '5.x' })
