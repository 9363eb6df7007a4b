import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Internals } from '../plugins/internals.js'
import { finiteNumbersOnly } from '../plugins/finite-numbers.js'
import { userOf } from '../plugins/guards.js'
import { addressLimit } from '../plugins/throttle.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import { pathVariants } from '../src/route-paths.js'
import { errors } from '../src/errors.js'
import { noContent, ref } from '../src/schemas/ref.js'
import { badRequest, forbidden, errorResponse, tooManyRequests, unauthorized, unavailable, validationFailed } from '../src/schemas/responses.js'
import { LogoutQuery, SESSION_PAGE_MAX, SessionList, SessionListQuery, SessionParams } from '../src/schemas/session.js'
import { BAD_CURSOR, sessionPage } from '../src/sessions/session-pages.js'
import { OWN_ACCOUNT_SCOPES } from '../src/scopes/scopes.js'

const OWN_ACCOUNT = { scopes: OWN_ACCOUNT_SCOPES }
// Any token may log its own session out.
const ANY_SCOPE = { scopes: [] }

export interface SessionRoutesOptions {
  internals: Internals
  docs: RouteDocs
}

/** Logout, and the caller's view of their own sessions. */
const sessionRoutes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async function sessionRoutes (app, opts) {
  const { sessions: sessionStore, guards, audit } = opts.internals
  const ownAccount = guards.requireScopes(OWN_ACCOUNT_SCOPES)
  // What a session opened before scopes were recorded is granted on its next refresh.
  const unrecorded = opts.internals.scopes.grant({ kind: 'default' }, false)

  for (const { url, ...variant } of pathVariants(app, '/logout')) {
    app.post(url, {
      // A disabled account may still log out.
      onRequest: guards.authenticate,
      schema: {
        ...operationDocs(opts.docs, variant, 'logout', ANY_SCOPE),
        summary: 'Log out',
        description: 'Ends this session (its refresh tokens at once, its access tokens on their next request); ' +
          '`scope=others` ends every other session of the user instead, `scope=global` all of them.',
        tags: ['sessions'],
        querystring: LogoutQuery,
        response: {
          204: noContent('The sessions named by `scope` have ended'),
          401: unauthorized,
          422: validationFailed('`scope` is not local, others or global', {
            loc: ['query', 'scope'], msg: 'must be equal to constant', type: 'const'
          }),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const current = guards.sessionOf(request)
      const { username } = userOf(request)
      const scope = request.query.scope ?? 'local'
      const ended = scope === 'local'
        ? Number(await sessionStore.end(username, current))
        : await sessionStore.endAll(username, scope === 'others' ? { except: current } : {})
      audit(request, 'logout', { username, session: current, scope, endedSessions: ended })
      return await reply.code(204).send()
    })
  }

  await app.register(async function sessionList (scope: typeof app) {
    await scope.register(addressLimit, { throttle: opts.internals.throttle, limit: 'sessions' })
    for (const { url, ...variant } of pathVariants(scope, '/users/me/sessions')) {
      scope.get(url, {
        onRequest: ownAccount,
        preHandler: finiteNumbersOnly,
        schema: {
          ...operationDocs(opts.docs, variant, 'listSessions', OWN_ACCOUNT),
          summary: 'The current user\'s live sessions',
          description: 'The sessions of the user that have not ended, the most recently used first; `current` marks the one asking. ' +
            `At most \`limit\` (${SESSION_PAGE_MAX}) a page: when there are more, a \`Link: <…>; rel="next"\` header (RFC 8288) gives the next page.`,
          tags: ['sessions'],
          querystring: SessionListQuery,
          response: {
            200: ref(SessionList, 'A page of the live sessions, the most recently used first; `Link` names the next page when there is one'),
            400: badRequest(),
            401: unauthorized,
            403: forbidden,
            422: validationFailed(`\`limit\` is not a whole number from 1 to ${SESSION_PAGE_MAX}, or \`cursor\` is not one this service gave`, BAD_CURSOR),
            429: tooManyRequests('session lists'),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const { sessions, link } = await sessionPage(sessionStore, userOf(request).username, { ...request.query, url: request.url, current: guards.sessionOf(request), unrecordedScope: unrecorded })
        if (link !== undefined) reply.header('link', link)
        return sessions
      })
    }
  })

  for (const { url, ...variant } of pathVariants(app, '/users/me/sessions/:session_id')) {
    app.delete(url, {
      onRequest: ownAccount,
      schema: {
        ...operationDocs(opts.docs, variant, 'endSession', OWN_ACCOUNT),
        summary: 'End one of the current user\'s sessions',
        description: 'Signs that session out, wherever it is (the current one included).',
        tags: ['sessions'],
        params: SessionParams,
        response: {
          204: noContent('The session has ended'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          404: errorResponse([errors.SESSION_NOT_FOUND]),
          422: validationFailed('the id is not a session id: base64url, at most 64 characters', {
            loc: ['path', 'session_id'], msg: 'String should match pattern \'^[A-Za-z0-9_-]+$\'', type: 'string_pattern_mismatch'
          }),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = userOf(request)
      const ended = request.params.session_id
      if (!await sessionStore.end(username, ended)) throw errors.SESSION_NOT_FOUND.create()
      audit(request, 'session.ended', { username, session: guards.sessionOf(request), endedSession: ended })
      return await reply.code(204).send()
    })
  }
}

export default sessionRoutes
