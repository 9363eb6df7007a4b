/** The scope the items routes need: the service's own, beside the plugin's `me` and `admin`. */
export const ITEMS_SCOPE = 'items'

/** The service's scopes, for the plugin's `scopes` option. */
export const SERVICE_SCOPES = { [ITEMS_SCOPE]: 'Read and change your own items' }
