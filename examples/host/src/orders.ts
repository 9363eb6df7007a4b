import type { FastifyPluginAsync } from 'fastify'
import { currentActiveUser, userOf } from 'fastify-token-auth'

interface Order {
  id: number
  item: string
}

// Stands in for the host's own data: orders by owner.
const ordersByOwner = new Map<string, Order[]>()

/** The host's own routes: each user sees only their orders. */
const orders: FastifyPluginAsync = async (app) => {
  // The guard on the route itself: 401 without a valid token, 400 for a disabled account.
  app.get('/api/orders', { onRequest: currentActiveUser }, async (request) => {
    const owner = userOf(request).username
    return { owner, orders: ordersByOwner.get(owner) ?? [] }
  })
}

export default orders
