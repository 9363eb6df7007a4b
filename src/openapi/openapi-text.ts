// The prose of the OpenAPI documents (the plugin's own and a host's): what the tags hold,
// how to log in with each doc page, and when each error status is answered.

import { errors } from '../errors.js'
import { MFA_GRANT_TYPE } from '../mfa/mfa.js'

export interface TagObject {
  name: string
  description: string
}

/** The title of a document, unless the host names it. */
export const DEFAULT_DOCS_TITLE = 'Token authentication API'
/** The opening paragraph of a document's description, unless the host gives one. */
export const DEFAULT_DOCS_LEAD = 'OAuth2 password flow with JWT bearer tokens.'

/** The tags of the plugin's operations. */
export const AUTH_TAGS: TagObject[] = [
  { name: 'auth', description: 'Logging in: the OAuth2 token endpoint (password and refresh grants) and token revocation.' },
  { name: 'users', description: 'Registration, and the current user\'s account: profile, password, deletion; with mail, a forgotten password reset and the proof of an email address.' },
  { name: 'mfa', description: 'The current user\'s second factor: TOTP enrolment, recovery codes, turning it off. A login of an account with TOTP on takes a second step at the token endpoint.' },
  { name: 'sessions', description: 'Logging out, and the current user\'s sessions (one per login).' },
  { name: 'admin', description: 'Every account and session, for a token granted the `admin` scope (only administrators may be).' }
]

/** The OAuth2 security scheme's description (Swagger UI shows it in the Authorize dialog, ReDoc under Authentication). */
export function securitySchemeDescription (tokenUrl: string): string {
  return `OAuth2 password flow: \`POST ${tokenUrl}\` with a form-encoded \`username\` and \`password\` answers an access ` +
    'token (a JWT) and a refresh token. Send the access token as `Authorization: Bearer <access_token>`.\n\n' +
    'In Swagger UI\'s **Authorize** dialog, enter the username and password only: `client_id` and `client_secret` are ' +
    'not needed and can be left empty (a `client_id` given names the client in the tokens; the secret is ignored).\n\n' +
    '**Accounts with TOTP on:** Authorize does the password step only, and shows an error (`mfa_required`, 403). Finish the ' +
    `login with *Try it out* on \`POST ${tokenUrl}\`: the same username and password answer the \`mfa_token\`; send it ` +
    `again with \`grant_type\` set to \`${MFA_GRANT_TYPE}\` and the 6-digit \`otp\` (or a \`recovery_code\`). The answer ` +
    'holds the access token, for `Authorization: Bearer <access_token>` outside this page.'
}

export interface DescriptionOptions {
  /** The opening paragraph. */
  lead: string
  /** The token endpoint as the document names it (absolute with a public URL). */
  tokenUrl: string
  /** The public URL of the app's root, if known. */
  publicUrl: string | undefined
  /** The path prefix of the plugin's routes ('' at the root). */
  prefix: string
  /** Where the pages are: `${pages}/docs`, `${pages}/redoc`. */
  pages: string
  redoc: boolean
  registration: 'open' | 'closed'
}

/** The document's `info.description`: the lead, how to log in with Swagger UI and with ReDoc (or curl), the error statuses. */
export function documentDescription (opts: DescriptionOptions): string {
  const server = opts.publicUrl ?? 'https://api.example.com'
  const tokenPath = `${opts.prefix}/token`
  const reader = opts.redoc ? `**In ReDoc** (\`${opts.pages}/redoc\`), which has no Authorize button, and in any other client` : '**In any other client**'
  return [
    opts.lead,
    '## Logging in',
    'The operations with a lock need an access token, sent as `Authorization: Bearer <access_token>`.' +
      (opts.registration === 'open' ? ` No account yet? Register one with \`POST ${opts.prefix}/users/\` first.` : ''),
    `**In Swagger UI** (\`${opts.pages}/docs\`): click **Authorize**, enter your username and password, and click ` +
      '**Authorize** in the dialog. The `client_id` and `client_secret` fields are not needed: leave them empty. Every ' +
      'locked operation then sends the token, until it expires (after `expires_in` seconds): then Authorize again.',
    `${reader}: get a token from the token endpoint, \`POST ${opts.tokenUrl}\` (form-encoded), then send its ` +
      '`access_token` with each request. With curl:',
    '```sh\n' +
      `SERVER=${server}${opts.publicUrl === undefined ? '   # this server\'s address' : ''}\n` +
      `curl -d username=johndoe -d password=a-long-password "$SERVER${tokenPath}"\n` +
      '# {"access_token": "eyJhbGciOi…", "token_type": "bearer", "expires_in": 1800, "refresh_token": "…"}\n' +
      `curl -H "Authorization: Bearer eyJhbGciOi…" "$SERVER${opts.prefix}/users/me/"\n` +
      '```',
    'When the access token expires, `grant_type=refresh_token` with the answer\'s `refresh_token` gets a new pair.',
    // ReDoc shows the security scheme (its description, flow and token URL) here; to others a comment.
    '<!-- ReDoc-Inject: <security-definitions> -->',
    '## Errors',
    'Every error answers JSON with a `detail`: a sentence, or for 422 a list of problems. The token endpoint and ' +
      '`/revoke` add RFC 6749\'s `error` and `error_description`.',
    ERROR_TABLE
  ].join('\n\n')
}

const ERROR_TABLE = `| Status | When |
| --- | --- |
| 400 | At the token endpoint and \`/revoke\`: a field is missing or the body is not a form (\`invalid_request\`), the refresh token is unknown, spent, revoked or expired (\`invalid_grant\`), or the grant type is neither \`password\` nor \`refresh_token\` (\`unsupported_grant_type\`). Elsewhere: the account is disabled (\`${errors.INACTIVE_USER.detail()}\`), or the password given to confirm a change is wrong |
| 401 | At the token endpoint: wrong username or password (the same answer for both). Elsewhere: no bearer token (\`${errors.NOT_AUTHENTICATED.detail()}\`), or one that is malformed, expired, revoked or of an ended session (\`${errors.INVALID_TOKEN.detail()}\`); \`WWW-Authenticate: Bearer\` says so too |
| 403 | Registration is closed |
| 404 | What the path names does not exist or is not the caller's (never 403), or no such path |
| 409 | The username is taken, in any letter case |
| 413 | The body is larger than the operation accepts |
| 415 | A body that should be JSON is not (\`curl -d\` sends a form: add \`-H 'Content-Type: application/json'\`) |
| 422 | The request's body, query or path failed validation: \`detail\` lists every problem as \`{"loc", "msg", "type"}\` |
| 429 | Too many requests from this address, or too many failed logins for this username: retry after the \`Retry-After\` seconds |
| 503 | The database is unavailable or too slow: retry later |`
