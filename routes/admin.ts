import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { finiteNumbersOnly } from '../plugins/finite-numbers.js'
import { userOf } from '../plugins/guards.js'
import type { AuditEvent, AuditFields } from '../plugins/audit.js'
import type { Internals } from '../plugins/internals.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import type { AdminActor, AdminUser as AdminView } from '../src/accounts/accounts.js'
import { errors } from '../src/errors.js'
import { pathVariants } from '../src/route-paths.js'
import { ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, AdminSessionParams, AdminUser, AdminUserList, AdminUserParams, AdminUserQuery, AdminUserUpdate, EndedSessions } from '../src/schemas/admin.js'
import { noContent, ref } from '../src/schemas/ref.js'
import { badRequest, errorResponse, forbidden, payloadTooLarge, unauthorized, unavailable, unsupportedMediaType, validationFailed } from '../src/schemas/responses.js'
import { SESSION_PAGE_MAX, SessionList, SessionListQuery } from '../src/schemas/session.js'
import { ADMIN_SCOPE } from '../src/scopes/scopes.js'
import { BAD_CURSOR, sessionPage } from '../src/sessions/session-pages.js'

const ADMIN = { scopes: [ADMIN_SCOPE] }
const CHANGE_BODY_LIMIT = 8192
const CHANGE_FIELDS = ['disabled', 'is_admin', 'email', 'email_verified', 'full_name'] as const
const NO_CHANGE = { loc: ['body'], msg: `Give at least one of ${CHANGE_FIELDS.join(', ')}`, type: 'missing' }

const userNotFound = errorResponse([errors.USER_NOT_FOUND])
const BAD_USERNAME = { loc: ['path', 'username'], msg: 'String should have at least 1 character', type: 'string_too_short' }

export interface AdminRoutesOptions {
  internals: Internals
  docs: RouteDocs
}

/** The admin API: every account and session, for a token granted `admin`. */
const adminRoutes: FastifyPluginAsyncTypebox<AdminRoutesOptions> = async function adminRoutes (app, opts) {
  const { accounts, users, sessions, guards, audit, scopes } = opts.internals
  const admin = guards.requireScopes([ADMIN_SCOPE])
  const unrecorded = scopes.grant({ kind: 'default' }, false)
  const canList = users.page !== undefined || users.list !== undefined

  /** The administrator's audit: each line names them (`actor`) and the session they act from. */
  function auditBy (request: FastifyRequest) {
    const by = userOf(request).username
    const session = guards.sessionOf(request)
    return (event: AuditEvent, fields: AuditFields) => { audit(request, event, { ...fields, actor: by, session }) }
  }

  /** The caller as the accounts module's actor. */
  const actor = (request: FastifyRequest): AdminActor => ({ actor: userOf(request).username, audit: auditBy(request) })

  /** The account of the path, or 404. */
  async function account (username: string): Promise<AdminView> {
    const found = await accounts.get(username)
    if (found === undefined) throw errors.USER_NOT_FOUND.create()
    return found
  }

  if (canList) {
    for (const { url, ...variant } of pathVariants(app, '/admin/users')) {
      app.get(url, {
        onRequest: admin,
        preHandler: finiteNumbersOnly,
        schema: {
          ...operationDocs(opts.docs, variant, 'listUsers', ADMIN),
          summary: 'List the accounts',
          description: `A page of the accounts, ordered by username, with the number of live sessions of each; \`q\` keeps the usernames starting with it, ignoring letter case. At most \`limit\` (default ${ADMIN_PAGE_DEFAULT}, at most ${ADMIN_PAGE_MAX}) a page: when there are more, a \`Link: <…>; rel="next"\` header (RFC 8288) gives the next page.`,
          tags: ['admin'],
          querystring: AdminUserQuery,
          response: {
            200: ref(AdminUserList, 'A page of the accounts; `Link` names the next page when there is one'),
            400: badRequest(),
            401: unauthorized,
            403: forbidden,
            422: validationFailed(`\`limit\` is not a whole number from 1 to ${ADMIN_PAGE_MAX}, \`offset\` not one from 0, or \`q\` not the start of a username`, {
              loc: ['query', 'limit'], msg: `Input should be less than or equal to ${ADMIN_PAGE_MAX}`, type: 'less_than_equal'
            }),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const { limit = ADMIN_PAGE_DEFAULT, offset = 0, q } = request.query
        // One more than the page tells whether there is a next one.
        const found = await accounts.list({ limit: limit + 1, offset, prefix: q === '' ? undefined : q })
        if (found.length > limit) {
          const next = new URLSearchParams({ limit: String(limit), offset: String(offset + limit), ...(q !== undefined && q !== '' && { q }) })
          reply.header('link', `<${request.url.split('?')[0] ?? ''}?${next.toString()}>; rel="next"`)
        }
        return found.slice(0, limit)
      })
    }
  } else {
    app.log.info('fastify-token-auth: GET /admin/users is not served: the user store has neither page nor list')
  }

  for (const { url, ...variant } of pathVariants(app, '/admin/users/:username')) {
    app.get(url, {
      onRequest: admin,
      schema: {
        ...operationDocs(opts.docs, variant, 'readUser', ADMIN),
        summary: 'Read an account',
        description: 'The account as an administrator sees it: its flags, when it was created and how many live sessions it has. Never a password or hash.',
        tags: ['admin'],
        params: AdminUserParams,
        response: {
          200: ref(AdminUser, 'The account'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          404: userNotFound,
          422: validationFailed('the username is empty, over 254 characters or holds NUL', BAD_USERNAME),
          503: unavailable
        }
      }
    }, async (request) => await account(request.params.username))

    app.patch(url, {
      bodyLimit: CHANGE_BODY_LIMIT,
      onRequest: admin,
      schema: {
        ...operationDocs(opts.docs, variant, 'updateUser', ADMIN),
        summary: 'Change an account',
        description: 'Sets any of `disabled`, `is_admin`, `email`, `email_verified` and `full_name`, all together or not at all. ' +
          '`email_verified: true` marks the address (the one given with it, else the account\'s) as proven, as a verification mail would. ' +
          'Disabling ends every session of the user at once; taking admin rights ends the user\'s sessions holding `admin`. ' +
          'An administrator cannot take their own admin rights or disable themselves.',
        tags: ['admin'],
        params: AdminUserParams,
        body: ref(AdminUserUpdate),
        response: {
          200: ref(AdminUser, 'The account as it is now'),
          400: badRequest(errors.OWN_ADMIN_RIGHTS, errors.OWN_ACCOUNT_DISABLED, errors.EMAIL_MISSING),
          401: unauthorized,
          403: forbidden,
          404: userNotFound,
          413: payloadTooLarge('an account\'s changes'),
          415: unsupportedMediaType,
          422: validationFailed('no field to change, a field of the wrong type, or an email or full name that breaks the profile rules', NO_CHANGE),
          503: unavailable
        }
      }
    }, async (request) => {
      const { disabled, is_admin: isAdmin, email, email_verified: emailVerified, full_name: fullName } = request.body
      // Fields the schema does not know are dropped before this: none left is nothing to do.
      if (CHANGE_FIELDS.every((field) => request.body[field] === undefined)) {
        throw errors.VALIDATION.create([NO_CHANGE])
      }
      if (isAdmin !== undefined && users.setAdmin === undefined) {
        throw errors.VALIDATION.create([{ loc: ['body', 'is_admin'], msg: 'The user store cannot change admin rights', type: 'store_unsupported' }])
      }
      if (emailVerified !== undefined && users.setVerifiedEmail === undefined) {
        throw errors.VALIDATION.create([{ loc: ['body', 'email_verified'], msg: 'The user store cannot record verified addresses', type: 'store_unsupported' }])
      }
      const updated = await accounts.adminUpdate(request.params.username, { disabled, isAdmin, email, emailVerified, fullName }, actor(request))
      if (updated === undefined) throw errors.USER_NOT_FOUND.create()
      return updated
    })

    app.delete(url, {
      onRequest: admin,
      schema: {
        ...operationDocs(opts.docs, variant, 'deleteUser', ADMIN),
        summary: 'Delete an account',
        description: 'The account, its sessions and everything it owns are gone for good. An administrator cannot delete themselves here (`DELETE /users/me/`, with the password, can).',
        tags: ['admin'],
        params: AdminUserParams,
        response: {
          204: noContent('The account is gone, with its sessions'),
          400: badRequest(errors.OWN_ACCOUNT_DELETED),
          401: unauthorized,
          403: forbidden,
          404: userNotFound,
          422: validationFailed('the username is empty, over 254 characters or holds NUL', BAD_USERNAME),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      if (!await accounts.delete(request.params.username, actor(request))) throw errors.USER_NOT_FOUND.create()
      return await reply.code(204).send()
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/admin/users/:username/mfa')) {
    app.delete(url, {
      onRequest: admin,
      schema: {
        ...operationDocs(opts.docs, variant, 'resetUserMfa', ADMIN),
        summary: 'Turn an account\'s second factor off',
        description: 'For a lost authenticator: the TOTP secret and the recovery codes are gone, and the next login needs the password only ' +
          '(the user can enrol again). The user\'s sessions go on. Answers 204 for an account without a second factor too.',
        tags: ['admin'],
        params: AdminUserParams,
        response: {
          204: noContent('The account has no second factor now'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          404: userNotFound,
          422: validationFailed('the username is empty, over 254 characters or holds NUL', BAD_USERNAME),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = await account(request.params.username)
      await opts.internals.mfa.reset(username, auditBy(request))
      return await reply.code(204).send()
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/admin/users/:username/sessions')) {
    app.get(url, {
      onRequest: admin,
      preHandler: finiteNumbersOnly,
      schema: {
        ...operationDocs(opts.docs, variant, 'listUserSessions', ADMIN),
        summary: 'List an account\'s live sessions',
        description: `The user's sessions that have not ended, the most recently used first (\`current\` marks the administrator's own). At most \`limit\` (${SESSION_PAGE_MAX}) a page, the next named by \`Link\`.`,
        tags: ['admin'],
        params: AdminUserParams,
        querystring: SessionListQuery,
        response: {
          200: ref(SessionList, 'A page of the user\'s live sessions; `Link` names the next page when there is one'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          404: userNotFound,
          422: validationFailed(`\`limit\` is not a whole number from 1 to ${SESSION_PAGE_MAX}, or \`cursor\` is not one this service gave`, BAD_CURSOR),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = await account(request.params.username)
      const { sessions: page, link } = await sessionPage(sessions, username, { ...request.query, url: request.url, current: guards.sessionOf(request), unrecordedScope: unrecorded })
      if (link !== undefined) reply.header('link', link)
      return page
    })

    app.delete(url, {
      onRequest: admin,
      schema: {
        ...operationDocs(opts.docs, variant, 'endUserSessions', ADMIN),
        summary: 'Sign an account out everywhere',
        description: 'Ends every session of the user (the administrator\'s own too, when it is their account): refresh tokens at once, access tokens on their next request.',
        tags: ['admin'],
        params: AdminUserParams,
        response: {
          200: ref(EndedSessions, 'The user\'s sessions have ended'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          404: userNotFound,
          422: validationFailed('the username is empty, over 254 characters or holds NUL', BAD_USERNAME),
          503: unavailable
        }
      }
    }, async (request) => {
      const { username } = await account(request.params.username)
      const endedSessions = await sessions.endAll(username)
      auditBy(request)('sessions.revoked', { username, endedSessions })
      return { ended_sessions: endedSessions }
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/admin/users/:username/sessions/:session_id')) {
    app.delete(url, {
      onRequest: admin,
      schema: {
        ...operationDocs(opts.docs, variant, 'endUserSession', ADMIN),
        summary: 'End one of an account\'s sessions',
        description: 'Signs that session out: its refresh tokens at once, its access tokens on their next request. A session of another user is not found under this one.',
        tags: ['admin'],
        params: AdminSessionParams,
        response: {
          204: noContent('The session has ended'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          404: errorResponse([errors.USER_NOT_FOUND, errors.SESSION_NOT_FOUND]),
          422: validationFailed('the id is not a session id: base64url, at most 64 characters', {
            loc: ['path', 'session_id'], msg: 'String should match pattern \'^[A-Za-z0-9_-]+$\'', type: 'string_pattern_mismatch'
          }),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = await account(request.params.username)
      const ended = request.params.session_id
      if (!await sessions.end(username, ended)) throw errors.SESSION_NOT_FOUND.create()
      auditBy(request)('session.ended', { username, endedSession: ended })
      return await reply.code(204).send()
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/admin/sessions')) {
    app.delete(url, {
      onRequest: admin,
      schema: {
        ...operationDocs(opts.docs, variant, 'endAllSessions', ADMIN),
        summary: 'Sign every account out',
        description: 'Ends every session of every user but the one asking (OWASP ASVS 5.0 7.4.5): after a breach, say. Every refresh token stops at once, every access token on its next request.',
        tags: ['admin'],
        response: {
          200: ref(EndedSessions, 'Every other session has ended'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          503: unavailable
        }
      }
    }, async (request) => {
      return { ended_sessions: await accounts.endAllSessions({ except: guards.sessionOf(request) }, actor(request)) }
    })
  }
}

export default adminRoutes
