import { createHash } from 'node:crypto'

// The Content-Security-Policy of the doc pages. They load everything from this server (no
// CDN), run no inline script and no eval, and may be framed by this origin only. Each page
// sends its own policy, replacing whatever a host's (or the service's) helmet set.

const DIRECTIVES = [
  "default-src 'self'", "base-uri 'self'", "object-src 'none'", "frame-ancestors 'self'", "form-action 'self'",
  "script-src 'self'", "img-src 'self' data:", "connect-src 'self'"
]

// Swagger UI's stylesheets are files and its inline styles are set through the DOM (which CSP
// allows); the one <style> element it renders is inside its top bar's SVG logo, allowed by hash.
const SWAGGER_UI_LOGO_STYLE = '.logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}'
const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

export const SWAGGER_UI_CSP = [...DIRECTIVES, `style-src 'self' ${hash(SWAGGER_UI_LOGO_STYLE)}`].join('; ')

/**
 * ReDoc: its search runs in a blob: worker, and its styles are <style> elements it creates,
 * allowed by the page's nonce. Without a nonce (a bundle that cannot carry one), inline styles
 * are allowed on this page only.
 */
export function redocCsp (nonce: string | undefined): string {
  const styles = nonce === undefined ? "style-src 'self' 'unsafe-inline'" : `style-src 'self' 'nonce-${nonce}'`
  return [...DIRECTIVES, styles, 'worker-src blob:'].join('; ')
}
