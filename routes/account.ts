import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { newPasswordFields, passwordRuleAnswer } from '../plugins/errors.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import type { Internals } from '../plugins/internals.js'
import { userOf } from '../plugins/guards.js'
import { addressLimit } from '../plugins/throttle.js'
import { NoSuchUserError, PasswordRuleError, WrongPasswordError, type OwnerChange } from '../src/accounts/accounts.js'
import { errors, type ErrorEntry } from '../src/errors.js'
import { pathVariants } from '../src/route-paths.js'
import { noContent, ref } from '../src/schemas/ref.js'
import { badRequest, forbidden, payloadTooLarge, tooManyRequests, unauthorized, unavailable, unsupportedMediaType, validationFailed } from '../src/schemas/responses.js'
import { AccountDeletion, PasswordChange, User, UserUpdate } from '../src/schemas/user.js'
import { emailVerified, toPublicUser } from '../src/accounts/user-store.js'
import { OWN_ACCOUNT_SCOPES } from '../src/scopes/scopes.js'

const OWN_ACCOUNT = { scopes: OWN_ACCOUNT_SCOPES }

// Bodies of a password or two, and of a profile.
const SMALL_BODY_LIMIT = 4096
const PROFILE_BODY_LIMIT = 8192

export interface AccountRoutesOptions {
  internals: Internals
  docs: RouteDocs
}

/** Self-service for the owner of an account: password, profile, deletion. */
const accountRoutes: FastifyPluginAsyncTypebox<AccountRoutesOptions> = async function accountRoutes (app, opts) {
  const { accounts, guards, audit, throttle: { admittedPasswordCheck } } = opts.internals
  const ownAccount = guards.requireScopes(OWN_ACCOUNT_SCOPES)

  // The guard found the user a moment ago; gone since, it is as good as deleted.
  const gone = () => errors.INVALID_TOKEN.create()

  /**
   * The owner's change, from the guarded request's session, its password checked with one
   * bcrypt comparison under the token endpoint's admission: a stolen access token is no faster oracle.
   */
  function ownerChange (request: FastifyRequest, check: string): OwnerChange {
    const { username } = userOf(request)
    return {
      audit: audit.of(request),
      session: guards.sessionOf(request),
      checkPassword: async (run) => await admittedPasswordCheck(request, username, run, { username, check })
    }
  }

  /** The owner's change made, or its refusal as the client sees it. */
  async function asOwner<T> (change: () => Promise<T>, wrong: ErrorEntry<[], string>): Promise<T> {
    try {
      return await change()
    } catch (error) {
      if (error instanceof WrongPasswordError) throw wrong.create()
      if (error instanceof NoSuchUserError) throw gone()
      // Checked before the current password is.
      if (error instanceof PasswordRuleError) throw passwordRuleAnswer(error, 'new_password', 'password_invalid')
      throw error
    }
  }

  await app.register(async function passwordChange (scope: typeof app) {
    await scope.register(addressLimit, { throttle: opts.internals.throttle, limit: 'passwordChange' })
    for (const { url, ...variant } of pathVariants(scope, '/users/me/password')) {
      scope.post(url, {
        bodyLimit: SMALL_BODY_LIMIT,
        config: newPasswordFields({ new_password: 'password_invalid' }),
        onRequest: ownAccount,
        schema: {
          ...operationDocs(opts.docs, variant, 'changePassword', OWN_ACCOUNT),
          summary: 'Change the current user\'s password',
          description: 'Needs the current password. Every other session of the user ends; this one goes on.',
          tags: ['users'],
          body: ref(PasswordChange),
          response: {
            204: noContent('The password is changed; every other session of the user has ended'),
            400: badRequest(errors.CURRENT_PASSWORD_INCORRECT),
            401: unauthorized,
            403: forbidden,
            413: payloadTooLarge('two passwords'),
            415: unsupportedMediaType,
            422: validationFailed('the new password is outside 8 to 72 bytes, too common, or the same as the current one', {
              loc: ['body', 'new_password'], msg: 'The new password must differ from the current one', type: 'password_invalid'
            }),
            429: tooManyRequests('password changes'),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const { current_password: currentPassword, new_password: newPassword } = request.body
        await asOwner(async () => await accounts.changePassword(userOf(request).username, currentPassword, newPassword,
          ownerChange(request, 'password_change')), errors.CURRENT_PASSWORD_INCORRECT)
        return await reply.code(204).send()
      })
    }
  })

  for (const { url, ...variant } of pathVariants(app, '/users/me/')) {
    app.patch(url, {
      bodyLimit: PROFILE_BODY_LIMIT,
      onRequest: ownAccount,
      schema: {
        ...operationDocs(opts.docs, variant, 'updateCurrentUser', OWN_ACCOUNT),
        summary: 'Change the current user\'s profile',
        description: 'Sets `email` and `full_name`; a field left out stays as it is, `null` clears it.',
        tags: ['users'],
        body: ref(UserUpdate),
        response: {
          200: ref(User, 'The updated account'),
          400: badRequest(),
          401: unauthorized,
          403: forbidden,
          413: payloadTooLarge('a profile'),
          415: unsupportedMediaType,
          422: validationFailed('a field is not an email address, or too long; other fields are ignored', {
            loc: ['body', 'email'], msg: 'Input should be a valid email', type: 'email_invalid'
          }),
          503: unavailable
        }
      }
    }, async (request) => {
      const { email, full_name: fullName } = request.body
      const before = userOf(request)
      const updated = await accounts.update(before.username, { email, fullName })
      if (updated === undefined) throw gone()
      // A new address is proven by a mail to it; until then a reset goes to the last proven one.
      const { recovery, afterAnswer } = opts.internals
      if (recovery?.verifications === true && updated.email !== null && updated.email !== before.email && !emailVerified(updated)) {
        const accountAudit = audit.of(request)
        afterAnswer.run('verification mail', async () => { await recovery.sendVerification(updated, accountAudit) })
      }
      return toPublicUser(updated)
    })

    app.delete(url, {
      bodyLimit: SMALL_BODY_LIMIT,
      onRequest: ownAccount,
      schema: {
        ...operationDocs(opts.docs, variant, 'deleteCurrentUser', OWN_ACCOUNT),
        summary: 'Delete the current user',
        description: 'Needs the password. The account, its sessions and everything it owns are gone for good.',
        tags: ['users'],
        body: ref(AccountDeletion),
        response: {
          204: noContent('The account is gone, with its sessions and everything it owned'),
          400: badRequest(errors.PASSWORD_INCORRECT),
          401: unauthorized,
          403: forbidden,
          413: payloadTooLarge('a password'),
          415: unsupportedMediaType,
          422: validationFailed('no password in the body', { loc: ['body', 'password'], msg: 'Field required', type: 'missing' }),
          429: tooManyRequests('password checks'),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      await asOwner(async () => { await accounts.deleteOwn(userOf(request).username, request.body.password, ownerChange(request, 'account_deletion')) },
        errors.PASSWORD_INCORRECT)
      return await reply.code(204).send()
    })
  }
}

export default accountRoutes
