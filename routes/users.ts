import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { newPasswordFields, passwordRuleAnswer } from '../plugins/errors.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import type { Internals } from '../plugins/internals.js'
import { userOf } from '../plugins/guards.js'
import { addressLimit } from '../plugins/throttle.js'
import { PasswordRuleError } from '../src/accounts/accounts.js'
import { pathVariants } from '../src/route-paths.js'
import { errors } from '../src/errors.js'
import { ref } from '../src/schemas/ref.js'
import { badRequest, forbidden, errorResponse, payloadTooLarge, tooManyRequests, unauthorized, unavailable, unsupportedMediaType, validationFailed } from '../src/schemas/responses.js'
import { User, UserCreate, USERNAME_PATTERN } from '../src/schemas/user.js'
import { toPublicUser, UsernameTakenError } from '../src/accounts/user-store.js'
import { OWN_ACCOUNT_SCOPES } from '../src/scopes/scopes.js'

const OWN_ACCOUNT = { scopes: OWN_ACCOUNT_SCOPES }

export interface UserRoutesOptions {
  internals: Internals
  registration: 'open' | 'closed'
  docs: RouteDocs
}

// A registration is a few short fields.
const USER_BODY_LIMIT = 8192

const userRoutes: FastifyPluginAsyncTypebox<UserRoutesOptions> = async function userRoutes (app, opts) {
  const { accounts, guards, audit } = opts.internals
  const ownAccount = guards.requireScopes(OWN_ACCOUNT_SCOPES)
  for (const { url, ...variant } of pathVariants(app, '/users/me/')) {
    app.get(url, {
      onRequest: ownAccount,
      schema: {
        ...operationDocs(opts.docs, variant, 'readCurrentUser', OWN_ACCOUNT),
        summary: 'The current user',
        description: 'The account the bearer token belongs to: username, email, full name and whether it is disabled.',
        tags: ['users'],
        response: {
          200: ref(User, 'The account the bearer token belongs to'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          503: unavailable
        }
      }
    }, async (request) => userOf(request))
  }

  await app.register(async function registration (scope: typeof app) {
    await scope.register(addressLimit, { throttle: opts.internals.throttle, limit: 'registration' })
    for (const { url, ...variant } of pathVariants(scope, '/users/')) {
      scope.post(url, {
        bodyLimit: USER_BODY_LIMIT,
        config: newPasswordFields({ password: 'password_length' }),
        schema: {
          // Closed registration is out of the docs: the 403 is all it would show.
          ...operationDocs(opts.registration === 'closed' ? false : opts.docs, variant, 'register', 'none'),
          summary: 'Register a new user',
          description: 'Creates an account that can then log in at the token endpoint.',
          tags: ['users'],
          body: ref(UserCreate),
          response: {
            201: ref(User, 'Registered: the new account, which can log in at once'),
            403: errorResponse([errors.REGISTRATION_CLOSED]),
            409: errorResponse([errors.USERNAME_TAKEN]),
            413: payloadTooLarge('a registration'),
            415: unsupportedMediaType,
            422: validationFailed('a field is missing, malformed or too long, or the password is outside 8 to 72 bytes or too common', {
              loc: ['body', 'username'], msg: `String should match pattern '${USERNAME_PATTERN}'`, type: 'string_pattern_mismatch'
            }),
            429: tooManyRequests('registrations'),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        if (opts.registration === 'closed') throw errors.REGISTRATION_CLOSED.create()
        const { username, password, email, full_name: fullName } = request.body
        try {
          const accountAudit = audit.of(request)
          const user = await accounts.register({ username, password, email, fullName }, accountAudit)
          const { recovery, afterAnswer } = opts.internals
          if (recovery?.verifications === true && user.email !== null) {
            afterAnswer.run('verification mail', async () => { await recovery.sendVerification(user, accountAudit) })
          }
          return await reply.code(201).send(toPublicUser(user))
        } catch (error) {
          if (error instanceof PasswordRuleError) throw passwordRuleAnswer(error, 'password', 'password_length')
          if (error instanceof UsernameTakenError) throw errors.USERNAME_TAKEN.create()
          throw error
        }
      })
    }
  })
}

export default userRoutes
