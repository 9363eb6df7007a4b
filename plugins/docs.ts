import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

export interface DocsPluginOptions {
  /** Where the pages live: `${prefix}/docs`, `${prefix}/redoc`, `${prefix}/openapi.json`. '' at the root. */
  prefix: string
  title?: string
  version?: string
  description?: string
  /** Also serve ReDoc at `${prefix}/redoc`; needs the optional `redoc` package (see redocInstalled). Default false. */
  redoc?: boolean
}

/** True when the optional `redoc` package can be loaded. */
export function redocInstalled (): boolean {
  try {
    createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js')
    return true
  } catch {
    return false
  }
}

// Everything the pages load comes from this server: no CDN, no third-party images.
const CSP = "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'self'; " +
  "script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
  "worker-src 'self' blob:; connect-src 'self'"

const REDOC_CDN_LOGO = 'https://cdn.redoc.ly/redoc/logo-mini.svg'
const BLANK_IMAGE = 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E'

function redocPage (title: string, specUrl: string, scriptUrl: string): string {
  const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} - ReDoc</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="${escape(specUrl)}"></redoc>
<script src="${escape(scriptUrl)}"></script>
</body>
</html>
`
}

/**
 * OpenAPI 3.1 generated from the route schemas of this context and its children, served as
 * JSON, Swagger UI (`/docs`) and, on request, ReDoc (`/redoc`). The token route adds its
 * security scheme to the document itself (plugins/openapi-security.ts).
 */
export default fp<DocsPluginOptions>(async function docs (app, opts) {
  const title = opts.title ?? 'Token authentication API'
  const base = opts.prefix
  // Routes take this context's prefix by themselves; URLs inside a page need it spelled out.
  const url = `${app.prefix}${base}`

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title,
        version: opts.version ?? '0.1.0',
        description: opts.description ?? 'OAuth2 password flow with JWT bearer tokens. Use **Authorize** to log in.'
      }
    },
    // Name components after the schemas' $id (TokenAuth.User, Item, ...) rather than def-0, def-1.
    refResolver: {
      buildLocalReference (json, _baseUri, _fragment, i) {
        return typeof json.$id === 'string' ? json.$id : `def-${i}`
      }
    }
  })

  await app.register(fastifySwaggerUi, {
    routePrefix: `${base}/docs`,
    staticCSP: CSP,
    uiConfig: { docExpansion: 'list', deepLinking: false, persistAuthorization: false }
  })

  app.get(`${base}/openapi.json`, { schema: { hide: true } }, async () => app.swagger())

  // Whoever asks for ReDoc has checked redocInstalled() first.
  if (opts.redoc !== true) return
  // ReDoc 2 always puts Redocly's logo, fetched from their CDN, in its footer: point it at an
  // inline image instead, so the page asks nothing of other hosts. The bundle is read on first
  // use, so a service whose docs nobody opens does not hold its megabyte.
  const bundlePath = createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js')
  let bundle: Promise<Buffer> | undefined
  const loadBundle = async () => Buffer.from((await readFile(bundlePath, 'utf8')).replace(REDOC_CDN_LOGO, BLANK_IMAGE))
  const page = redocPage(title, `${url}/openapi.json`, `${url}/redoc/redoc.standalone.js`)
  app.get(`${base}/redoc`, { schema: { hide: true } }, async (_request, reply) => {
    return await reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).send(page)
  })
  app.get(`${base}/redoc/redoc.standalone.js`, { schema: { hide: true } }, async (_request, reply) => {
    return await reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(await (bundle ??= loadBundle()))
  })
}, { name: 'token-auth/docs', fastify: '5.x' })
