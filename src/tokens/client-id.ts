import { errors } from '../errors.js'

/** RFC 6749 Appendix A: a client_id is VSCHARs (printable ASCII); this server also bounds its length. */
export const CLIENT_ID_PATTERN = '^[\\x20-\\x7E]{1,255}$'
const CLIENT_ID = new RegExp(CLIENT_ID_PATTERN)

/** The client a login names (its tokens' `client_id`), or null for none (absent or empty); CLIENT_ID_MALFORMED otherwise. */
export function parseClientId (value: string | undefined): string | null {
  if (value === undefined || value === '') return null
  if (!CLIENT_ID.test(value)) throw errors.CLIENT_ID_MALFORMED.create()
  return value
}
