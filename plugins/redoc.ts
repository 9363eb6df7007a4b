import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import fp from 'fastify-plugin'
import { redocCsp } from './docs-csp.js'

export interface RedocPluginOptions {
  /** Where the page lives: `${prefix}/redoc`. '' at the root. */
  prefix: string
  title: string
  /** The document's URL as the page must spell it, the context's prefix included. */
  specUrl: string
  /** The same for the page's own script, `${prefix}/redoc/redoc.standalone.js`. */
  scriptUrl: string
}

const BUNDLE = 'redoc/bundles/redoc.standalone.js'

/** True when the optional `redoc` package can be loaded. */
export function redocInstalled (): boolean {
  try {
    createRequire(import.meta.url).resolve(BUNDLE)
    return true
  } catch {
    return false
  }
}

// ReDoc 2 always puts Redocly's logo, fetched from their CDN, in its footer: point it at an
// inline image instead, so the page asks nothing of other hosts.
const REDOC_CDN_LOGO = 'https://cdn.redoc.ly/redoc/logo-mini.svg'
const BLANK_IMAGE = 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E'
// The bundle's webpack runtime starts the nonce it gives every <style> element it inserts
// (`__webpack_nonce__`) empty, and inserts some before ReDoc reads its own `nonce` option:
// start it from the nonce of the <script> element that loads the bundle instead.
const WEBPACK_NONCE = /\b([A-Za-z_$][\w$]*)\.nc=void 0;/g

interface Bundle {
  body: Buffer
  /** Whether the bundle gives its styles the page's nonce (false if its runtime was not found). */
  nonced: boolean
}

/** The bundle's source with its style nonce started from its <script>, when its webpack runtime is found exactly once. */
export function withStyleNonce (source: string): { source: string, nonced: boolean } {
  if ((source.match(WEBPACK_NONCE)?.length ?? 0) !== 1) return { source, nonced: false }
  return { source: source.replace(WEBPACK_NONCE, '$1.nc=document.currentScript&&document.currentScript.nonce||void 0;'), nonced: true }
}

async function loadBundle (path: string): Promise<Bundle> {
  const { source, nonced } = withStyleNonce((await readFile(path, 'utf8')).replace(REDOC_CDN_LOGO, BLANK_IMAGE))
  return { body: Buffer.from(source), nonced }
}

function redocPage (title: string, specUrl: string, scriptUrl: string, nonce: string | undefined): string {
  const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  const nonceAttribute = nonce === undefined ? '' : ` nonce="${nonce}"`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} - ReDoc</title>
<link rel="icon" href="data:,">
<style${nonceAttribute}>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="${escape(specUrl)}"></redoc>
<script${nonceAttribute} src="${escape(scriptUrl)}"></script>
</body>
</html>
`
}

/**
 * ReDoc at `${prefix}/redoc`, its bundle served beside it. Each page gets a fresh nonce, in its
 * CSP and on its <style> and <script> elements, so its styles need no 'unsafe-inline'. The
 * bundle is read on first use, so a service whose docs nobody opens does not hold its megabyte.
 * Whoever registers this has checked redocInstalled() first.
 */
export default fp<RedocPluginOptions>(async function redoc (app, opts) {
  const bundlePath = createRequire(import.meta.url).resolve(BUNDLE)
  let bundle: Promise<Bundle> | undefined
  const load = async () => {
    const loaded = await loadBundle(bundlePath)
    if (!loaded.nonced) app.log.warn('the redoc bundle has no style nonce to start: /redoc allows inline styles')
    return loaded
  }
  app.get(`${opts.prefix}/redoc`, { schema: { hide: true } }, async (_request, reply) => {
    const { nonced } = await (bundle ??= load())
    const nonce = nonced ? randomBytes(16).toString('base64') : undefined
    return await reply.type('text/html; charset=utf-8')
      .header('content-security-policy', redocCsp(nonce))
      .send(redocPage(opts.title, opts.specUrl, opts.scriptUrl, nonce))
  })
  app.get(`${opts.prefix}/redoc/redoc.standalone.js`, { schema: { hide: true } }, async (_request, reply) => {
    const { body } = await (bundle ??= load())
    return await reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(body)
  })
}, { name: 'token-auth/redoc', fastify: '5.x' })
