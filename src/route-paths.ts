import type { FastifyInstance } from 'fastify'

/**
 * The paths a route answers on: its documented path, and the same with the trailing slash
 * toggled (hidden from the docs), so `/users/me` and `/users/me/` both answer 200 without a
 * redirect. A host whose router already ignores trailing slashes needs only the first.
 */
export function pathVariants (app: FastifyInstance, path: string): Array<{ url: string, hide: boolean }> {
  const config = app.initialConfig
  if (config.routerOptions?.ignoreTrailingSlash === true || config.ignoreTrailingSlash === true) {
    return [{ url: path, hide: false }]
  }
  const other = path.endsWith('/') ? path.slice(0, -1) : `${path}/`
  return [{ url: path, hide: false }, { url: other, hide: true }]
}
