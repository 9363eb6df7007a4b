import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../plugins/errors.js'
import { finiteNumbersOnly } from '../plugins/finite-numbers.js'
import { HTTPError, HTTPValidationError } from '../src/core/schemas/errors.js'
import { Item, ItemCreate, ItemList, ItemParams, ItemsQuery, ITEMS_PAGE_DEFAULT } from '../src/core/schemas/item.js'
import { ref } from '../src/core/schemas/ref.js'
import { pathVariants } from '../src/core/route-paths.js'

const guarded = { 400: ref(HTTPError), 401: ref(HTTPError), 422: ref(HTTPValidationError) }

/**
 * The current user's items. Written as a host service would write its own routes: it relies
 * only on the plugin's public `currentActiveUser` hook and the typed `request.user`. The hook
 * is set on each route (not with addHook) so that OpenAPI marks each one as protected.
 */
const itemRoutes: FastifyPluginAsyncTypebox = async function itemRoutes (app) {
  const onRequest = app.currentActiveUser
  const tags = ['items']
  // A title and 10,000 characters of description, each escaped as \uXXXX at worst, fit.
  const ITEM_BODY_LIMIT = 65_536
  app.addHook('preHandler', finiteNumbersOnly)

  for (const { url, hide } of pathVariants(app, '/users/me/items/')) {
    app.get(url, {
      onRequest,
      schema: { hide, tags, summary: 'List my items', querystring: ItemsQuery, response: { 200: ref(ItemList), ...guarded } }
    }, async (request) => await app.items.list(request.user.username, request.query.limit ?? ITEMS_PAGE_DEFAULT, request.query.offset ?? 0))

    app.post(url, {
      bodyLimit: ITEM_BODY_LIMIT,
      onRequest,
      schema: { hide, tags, summary: 'Create an item', body: ref(ItemCreate), response: { 201: ref(Item), ...guarded } }
    }, async (request, reply) => await reply.code(201).send(await app.items.create(request.user.username, request.body)))
  }

  for (const { url, hide } of pathVariants(app, '/users/me/items/:item_id')) {
    app.get(url, {
      onRequest,
      schema: { hide, tags, summary: 'Get one of my items', params: ItemParams, response: { 200: ref(Item), 404: ref(HTTPError), ...guarded } }
    }, async (request) => {
      const item = await app.items.get(request.user.username, request.params.item_id)
      if (item === undefined) throw new HttpError(404, 'Item not found')
      return item
    })

    app.delete(url, {
      onRequest,
      schema: { hide, tags, summary: 'Delete one of my items', params: ItemParams, response: { 204: { type: 'null', description: 'Deleted' }, 404: ref(HTTPError), ...guarded } }
    }, async (request, reply) => {
      if (!await app.items.delete(request.user.username, request.params.item_id)) throw new HttpError(404, 'Item not found')
      return await reply.code(204).send()
    })
  }
}

export default itemRoutes
