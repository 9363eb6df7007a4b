/**
 * Where clients reach the app's root from outside (behind a proxy, say), as the OpenAPI
 * document's server: an absolute http(s) URL, without credentials, query or fragment. The
 * answer is the URL without its trailing slashes (so `${url}/token` is the token endpoint), or
 * the problem with it.
 */
export function parsePublicUrl (value: unknown): { url: string } | { problem: string } {
  const problem = 'must be an absolute http:// or https:// URL without a query or fragment, such as https://api.example.com'
  if (typeof value !== 'string' || !/^https?:\/\//i.test(value) || /[?#\s]/.test(value)) return { problem }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return { problem }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem }
  if (url.username !== '' || url.password !== '') return { problem: 'must not hold a user name or password' }
  return { url: url.href.replace(/\/+$/, '') }
}
