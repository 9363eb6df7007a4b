import { defineErrors } from '../index.js'

/** The standalone service's own errors, beside the package's table and answered by its error handler. */
export const serviceErrors = defineErrors('FST_TOKEN_AUTH_', {
  ITEM_NOT_FOUND: {
    status: 404,
    detail: 'Item not found',
    summary: 'No such item',
    when: 'The current user has no item of that id (another user\'s is not found either)',
    note: 'Never 403'
  }
})
