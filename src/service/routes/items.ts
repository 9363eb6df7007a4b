import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { serviceErrors } from '../errors.js'
import { finiteNumbersOnly } from '../../index.js'
import { Item, ItemCreate, ItemList, ItemParams, ItemsQuery, ITEMS_PAGE_DEFAULT } from '../items/item-schemas.js'
import { ITEMS_SCOPE } from '../items/items-scope.js'
import { errorResponses, noContent, ref, requireScopes, userOf } from '../../index.js'

const { badRequest, errorResponse, forbidden, payloadTooLarge, unauthorized, unavailable, unsupportedMediaType, validationFailed } = errorResponses
const guarded = { 400: badRequest(), 401: unauthorized, 403: forbidden, 503: unavailable }
const notFound = errorResponse([serviceErrors.ITEM_NOT_FOUND])
const badItemId = validationFailed('the id is not a whole number from 1 to 2147483647', {
  loc: ['path', 'item_id'], msg: 'Input should be a valid integer', type: 'int_type'
})

/**
 * The current user's items. Written as a host service would write its own routes: it relies
 * only on the plugin's public `requireScopes` guard and `userOf(request)`. The guard
 * is set on each route (not with addHook) so that OpenAPI marks each one as protected.
 */
const itemRoutes: FastifyPluginAsyncTypebox = async function itemRoutes (app) {
  const onRequest = requireScopes(ITEMS_SCOPE)
  const tags = ['items']
  // A title and 10,000 characters of description, each escaped as \uXXXX at worst, fit.
  const ITEM_BODY_LIMIT = 65_536
  app.addHook('preHandler', finiteNumbersOnly)

  app.get('/users/me/items/', {
    onRequest,
    schema: {
      tags,
      operationId: 'listItems',
      summary: 'List my items',
      description: 'The current user\'s items, the oldest first, a page at a time (`limit`, `offset`).',
      querystring: ItemsQuery,
      response: {
        200: ref(ItemList, 'A page of the current user\'s items; fewer than `limit` on the last page, none past it'),
        ...guarded,
        422: validationFailed('`limit` is not from 1 to 100, or `offset` not from 0 to 1000000', {
          loc: ['query', 'limit'], msg: 'Input should be less than or equal to 100', type: 'less_than_equal'
        })
      }
    }
  }, async (request) => await app.items.list(userOf(request).username, request.query.limit ?? ITEMS_PAGE_DEFAULT, request.query.offset ?? 0))

  app.post('/users/me/items/', {
    bodyLimit: ITEM_BODY_LIMIT,
    onRequest,
    schema: {
      tags,
      operationId: 'createItem',
      summary: 'Create an item',
      description: 'Adds an item owned by the current user.',
      body: ref(ItemCreate),
      response: {
        201: ref(Item, 'Created: the new item, with its id'),
        ...guarded,
        413: payloadTooLarge('an item'),
        415: unsupportedMediaType,
        422: validationFailed('the title is missing, empty or over 200 characters, or the description over 10,000', {
          loc: ['body', 'title'], msg: 'Field required', type: 'missing'
        })
      }
    }
  }, async (request, reply) => await reply.code(201).send(await app.items.create(userOf(request).username, request.body)))

  app.get('/users/me/items/:item_id', {
    onRequest,
    schema: {
      tags,
      operationId: 'readItem',
      summary: 'Get one of my items',
      description: 'One item of the current user\'s, by its id.',
      params: ItemParams,
      response: { 200: ref(Item, 'The item of that id, which the current user owns'), ...guarded, 404: notFound, 422: badItemId }
    }
  }, async (request) => {
    const item = await app.items.get(userOf(request).username, request.params.item_id)
    if (item === undefined) throw serviceErrors.ITEM_NOT_FOUND.create()
    return item
  })

  app.delete('/users/me/items/:item_id', {
    onRequest,
    schema: {
      tags,
      operationId: 'deleteItem',
      summary: 'Delete one of my items',
      description: 'Deletes one item of the current user\'s, for good.',
      params: ItemParams,
      response: { 204: noContent('Deleted: the item is gone for good'), ...guarded, 404: notFound, 422: badItemId }
    }
  }, async (request, reply) => {
    if (!await app.items.delete(userOf(request).username, request.params.item_id)) throw serviceErrors.ITEM_NOT_FOUND.create()
    return await reply.code(204).send()
  })
}

export default itemRoutes
