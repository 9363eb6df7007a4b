import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { audit } from '../plugins/audit.js'
import { HttpError } from '../plugins/errors.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import { pathVariants } from '../src/core/route-paths.js'
import { HTTPError } from '../src/core/schemas/errors.js'
import { noContent, ref } from '../src/core/schemas/ref.js'
import { badRequest, jsonResponse, unauthorized, unavailable, validationFailed } from '../src/core/schemas/responses.js'
import { LogoutQuery, SessionList, SessionParams } from '../src/core/schemas/session.js'

export interface SessionRoutesOptions {
  docs: RouteDocs
}

/** Logout, and the caller's view of their own sessions. */
const sessionRoutes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async function sessionRoutes (app, opts) {
  const guards = app.tokenAuthGuards

  for (const { url, ...variant } of pathVariants(app, '/logout')) {
    app.post(url, {
      // A disabled account may still log out.
      onRequest: guards.authenticate,
      schema: {
        ...operationDocs(opts.docs, variant, 'logout', 'guard'),
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
      const { username } = request.user
      const scope = request.query.scope ?? 'local'
      const ended = scope === 'local'
        ? Number(await app.tokenAuthSessions.end(username, current))
        : await app.tokenAuthSessions.endAll(username, scope === 'others' ? { except: current } : {})
      audit(request, 'logout', { username, session: current, scope, endedSessions: ended })
      return await reply.code(204).send()
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/users/me/sessions')) {
    app.get(url, {
      onRequest: guards.currentActiveUser,
      schema: {
        ...operationDocs(opts.docs, variant, 'listSessions', 'guard'),
        summary: 'The current user\'s live sessions',
        description: 'Every session of the user that has not ended, the most recently used first; `current` marks the one asking.',
        tags: ['sessions'],
        response: {
          200: ref(SessionList, 'The live sessions, the most recently used first'),
          400: badRequest(),
          401: unauthorized,
          503: unavailable
        }
      }
    }, async (request) => {
      const current = guards.sessionOf(request)
      const sessions = await app.tokenAuthSessions.list(request.user.username)
      return sessions.map((session) => ({
        id: session.id,
        created_at: session.createdAt,
        last_used_at: session.lastUsedAt,
        expires_at: session.expiresAt,
        user_agent: session.userAgent,
        current: session.id === current
      }))
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/users/me/sessions/:session_id')) {
    app.delete(url, {
      onRequest: guards.currentActiveUser,
      schema: {
        ...operationDocs(opts.docs, variant, 'endSession', 'guard'),
        summary: 'End one of the current user\'s sessions',
        description: 'Signs that session out, wherever it is (the current one included).',
        tags: ['sessions'],
        params: SessionParams,
        response: {
          204: noContent('The session has ended'),
          400: badRequest(),
          401: unauthorized,
          404: jsonResponse(HTTPError, 'The user has no live session of that id (another user\'s is not found either)', {
            notFound: { summary: 'No such session', value: { detail: 'Session not found' } }
          }),
          422: validationFailed('the id is not a session id: base64url, at most 64 characters', {
            loc: ['path', 'session_id'], msg: 'String should match pattern \'^[A-Za-z0-9_-]+$\'', type: 'string_pattern_mismatch'
          }),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = request.user
      const ended = request.params.session_id
      if (!await app.tokenAuthSessions.end(username, ended)) throw new HttpError(404, 'Session not found')
      audit(request, 'session.ended', { username, session: guards.sessionOf(request), endedSession: ended })
      return await reply.code(204).send()
    })
  }
}

export default sessionRoutes
