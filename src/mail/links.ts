/**
 * The front-end's page for a token: `baseUrl` with `#token=…` as its fragment, keeping its path
 * and query (any fragment it had is replaced). A fragment never reaches a server's log or a
 * Referer header.
 */
export function linkWithToken (baseUrl: string, token: string): string {
  const url = new URL(baseUrl)
  url.hash = new URLSearchParams({ token }).toString()
  return url.href
}

/** Why a link base is refused, or undefined: it must be an absolute http(s) URL. */
export function linkBaseProblem (value: string): string | undefined {
  if (!URL.canParse(value)) return 'must be an absolute http:// or https:// URL'
  const url = new URL(value)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an absolute http:// or https:// URL'
  if (url.username !== '' || url.password !== '') return 'must not hold credentials'
  return undefined
}
