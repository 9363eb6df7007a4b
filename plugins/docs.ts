import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import { AUTH_TAGS, DEFAULT_DOCS_LEAD, DEFAULT_DOCS_TITLE, documentDescription, type TagObject } from '../src/openapi/openapi-text.js'
import { parsePublicUrl } from '../src/openapi/public-url.js'
import { packageInfo } from '../src/package-info.js'
import { SWAGGER_UI_CSP } from './docs-csp.js'
import redoc, { redocInstalled } from './redoc.js'

export { redocInstalled } from './redoc.js'

export type { TagObject }

/** The options of the docs pages, the plugin's own or a host's (`tokenAuthDocs`). */
export interface DocsPluginOptions {
  /** Where the pages live: `${prefix}/docs`, `${prefix}/redoc`, `${prefix}/openapi.json`. Default '', at the root. */
  prefix?: string
  title?: string
  /** Default: the package's version. */
  version?: string
  /** The opening paragraph; how to log in and the error statuses follow it. */
  description?: string
  /**
   * Also serve ReDoc at `${prefix}/redoc`; it needs the optional `redoc` package. 'if-installed':
   * when it is installed, and otherwise a line in the log says ReDoc is off. Default false.
   */
  redoc?: boolean | 'if-installed'
  /** Where clients reach the app's root, an absolute http(s) URL: the document's server. Default: '/'. */
  publicUrl?: string
  /** Tags of the app's own operations, after the plugin's (auth, users, sessions). */
  tags?: TagObject[]
  /** Whether the description invites a registration. Default 'open'. */
  registration?: 'open' | 'closed'
}

/**
 * OpenAPI 3.1 generated from the route schemas of this context and its children, served as
 * JSON, Swagger UI (`/docs`) and, on request, ReDoc (`/redoc`). The plugin registers it for its
 * own document; a host without @fastify/swagger registers it (as `tokenAuthDocs`) before the
 * plugin to get one document of its routes and the plugin's. The token route adds its security
 * scheme to the document itself (plugins/openapi-security.ts).
 */
export default fp<DocsPluginOptions>(async function docs (app, opts) {
  const title = opts.title ?? DEFAULT_DOCS_TITLE
  const base = (opts.prefix ?? '').replace(/\/+$/, '')
  const parsed = opts.publicUrl === undefined ? undefined : parsePublicUrl(opts.publicUrl)
  if (parsed !== undefined && 'problem' in parsed) throw new Error(`fastify-token-auth: publicUrl ${parsed.problem}`)
  const publicUrl = parsed?.url
  const withRedoc = opts.redoc === 'if-installed' ? redocInstalled() : opts.redoc === true
  if (opts.redoc === 'if-installed' && !withRedoc) app.log.info('ReDoc is off: install the optional redoc package to serve /redoc')
  // Routes take this context's prefix by themselves; URLs inside a page need it spelled out.
  const url = `${app.prefix}${base}`

  const { version, license, contact } = packageInfo()
  const description = documentDescription({
    lead: opts.description ?? DEFAULT_DOCS_LEAD,
    tokenUrl: `${publicUrl ?? ''}${app.prefix}/token`,
    publicUrl,
    prefix: app.prefix,
    pages: url,
    redoc: withRedoc,
    registration: opts.registration ?? 'open'
  })

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title, version: opts.version ?? version, description, license, contact },
      servers: [{ url: publicUrl ?? '/' }],
      tags: [...AUTH_TAGS, ...opts.tags ?? []].map((tag) => ({ ...tag }))
    },
    // The server is the app's root and the paths are the routes' own, prefixes included.
    stripBasePath: false,
    // Name components after the schemas' $id (TokenAuth.User, Item, ...) rather than def-0, def-1.
    refResolver: {
      buildLocalReference (json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`
      }
    }
  })

  await app.register(fastifySwaggerUi, {
    routePrefix: `${base}/docs`,
    // The page at `<prefix>/docs` (no trailing slash) links its assets by absolute path, which
    // must hold this context's prefix too.
    indexPrefix: app.prefix,
    staticCSP: SWAGGER_UI_CSP,
    uiConfig: { docExpansion: 'list', deepLinking: false, persistAuthorization: false }
  })

  app.get(`${base}/openapi.json`, { schema: { hide: true } }, async () => app.swagger())

  if (withRedoc) {
    await app.register(redoc, { prefix: base, title, specUrl: `${url}/openapi.json`, scriptUrl: `${url}/redoc/redoc.standalone.js` })
  }
}, { name: 'token-auth/docs', fastify: '5.x' })
