import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { newPasswordFields, onlyFieldsOf, passwordRuleAnswer } from '../plugins/errors.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import type { Internals } from '../plugins/internals.js'
import { userOf } from '../plugins/guards.js'
import { addressLimit } from '../plugins/throttle.js'
import { PasswordRuleError } from '../src/accounts/accounts.js'
import { COMMON_PASSWORD_PROBLEM } from '../src/accounts/common-passwords.js'
import { emailVerified } from '../src/accounts/user-store.js'
import { errors } from '../src/errors.js'
import { ACCOUNT_TOKEN_PATTERN } from '../src/recovery/account-tokens.js'
import type { AfterAnswer } from '../src/recovery/after-answer.js'
import type { Recovery } from '../src/recovery/recovery.js'
import { pathVariants } from '../src/route-paths.js'
import { noContent } from '../src/schemas/ref.js'
import { Accepted, EmailVerification, PasswordResetConfirm, PasswordResetRequest } from '../src/schemas/recovery.js'
import { badRequest, errorResponse, forbidden, payloadTooLarge, tooManyRequests, unauthorized, unavailable, unsupportedMediaType, validationFailed } from '../src/schemas/responses.js'
import { OWN_ACCOUNT_SCOPES } from '../src/scopes/scopes.js'

export interface RecoveryRoutesOptions {
  internals: Internals
  recovery: Recovery
  afterAnswer: AfterAnswer
  docs: RouteDocs
}

// A token and a password, or an address.
const RECOVERY_BODY_LIMIT = 4096

const RESET_ACCEPTED = { detail: 'If an account matches, a mail is on its way to its verified address' }
const VERIFICATION_ACCEPTED = { detail: 'A verification mail is on its way, unless one was sent a moment ago' }

/**
 * Account recovery: a password reset by mail and the proof of an email address. Registered only
 * with a mailer; every route counts against the `recovery` limit per client address.
 */
const recoveryRoutes: FastifyPluginAsyncTypebox<RecoveryRoutesOptions> = async function recoveryRoutes (app, opts) {
  const { recovery, afterAnswer } = opts
  const { audit, guards } = opts.internals
  await app.register(addressLimit, { throttle: opts.internals.throttle, limit: 'recovery' })

  if (recovery.resets) registerResets()
  if (recovery.verifications) registerVerifications()

  function registerResets () {
    for (const { url, ...variant } of pathVariants(app, '/password-reset')) {
      app.post(url, {
        bodyLimit: RECOVERY_BODY_LIMIT,
        preValidation: onlyFieldsOf(PasswordResetRequest),
        schema: {
          ...operationDocs(opts.docs, variant, 'requestPasswordReset', 'none'),
          summary: 'Ask for a password reset mail',
          description: 'Mails a link for choosing a new password to the **verified** address of the account named by `email` or ' +
          '`username` (one mail naming each account, where accounts share the address). The answer is the same, in the same ' +
          'time, whether or not an account matches; the mail is sent after it. At most one reset mail a minute, and five an hour, ' +
          'reach one account: past that, the answer is still 202.',
          tags: ['users'],
          body: PasswordResetRequest,
          response: {
            202: { ...Accepted, description: 'Taken: a mail follows if an account matches' },
            413: payloadTooLarge('an address'),
            415: unsupportedMediaType,
            422: validationFailed('neither or both of `email` and `username`, one that is malformed, or a field of another name', {
              loc: ['body'], msg: 'Give email or username, one of them', type: 'value_error'
            }),
            429: tooManyRequests('recovery requests'),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const { email, username } = request.body
        if ((email === undefined) === (username === undefined)) {
          throw errors.VALIDATION.create([{ loc: ['body'], msg: 'Give email or username, one of them', type: 'value_error' }])
        }
        if (email !== undefined && !recovery.byEmail) {
          throw errors.VALIDATION.create([{ loc: ['body', 'email'], msg: 'This server finds accounts by username only', type: 'value_error' }])
        }
        const accountAudit = audit.of(request)
        afterAnswer.run('password reset request', async () => {
          await recovery.requestReset(email !== undefined ? { email } : { username: username as string }, accountAudit)
        })
        return await reply.code(202).send(RESET_ACCEPTED)
      })
    }

    for (const { url, ...variant } of pathVariants(app, '/password-reset/confirm')) {
      app.post(url, {
        bodyLimit: RECOVERY_BODY_LIMIT,
        config: newPasswordFields({ new_password: 'password_invalid' }),
        preValidation: onlyFieldsOf(PasswordResetConfirm),
        schema: {
          ...operationDocs(opts.docs, variant, 'confirmPasswordReset', 'none'),
          summary: 'Choose a new password with a reset token',
          description: 'Sets the password of the account the token was mailed for, under the rules of registration. The token works ' +
          'once, and only until it expires or a newer one is mailed. Every session of the user ends, and a mail tells the ' +
          'verified address that the password changed.',
          tags: ['users'],
          body: PasswordResetConfirm,
          response: {
            204: noContent('The password is changed; every session of the user has ended'),
            400: errorResponse([errors.RECOVERY_TOKEN_INVALID]),
            413: payloadTooLarge('a token and a password'),
            415: unsupportedMediaType,
            422: validationFailed('the token is malformed, or the new password is outside 8 to 72 bytes or too common', {
              loc: ['body', 'new_password'], msg: COMMON_PASSWORD_PROBLEM, type: 'password_too_common'
            }),
            429: tooManyRequests('recovery requests'),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const { token, new_password: newPassword } = request.body
        try {
          await recovery.confirmReset(token, newPassword, audit.of(request))
        } catch (error) {
          if (error instanceof PasswordRuleError) throw passwordRuleAnswer(error, 'new_password', 'password_invalid')
          throw error
        }
        return await reply.code(204).send()
      })
    }
  }

  function registerVerifications () {
    for (const { url, ...variant } of pathVariants(app, '/email/verify')) {
      app.post(url, {
        bodyLimit: RECOVERY_BODY_LIMIT,
        preValidation: onlyFieldsOf(EmailVerification),
        schema: {
          ...operationDocs(opts.docs, variant, 'verifyEmail', 'none'),
          summary: 'Prove an email address with a verification token',
          description: 'Marks the address the token was mailed to as verified, if it is still the account\'s email. From then on a ' +
          'password reset goes there. The token works once.',
          tags: ['users'],
          body: EmailVerification,
          response: {
            204: noContent('The address is verified'),
            400: errorResponse([errors.RECOVERY_TOKEN_INVALID]),
            413: payloadTooLarge('a token'),
            415: unsupportedMediaType,
            422: validationFailed('the token is missing or malformed', {
              loc: ['body', 'token'], msg: `String should match pattern '${ACCOUNT_TOKEN_PATTERN}'`, type: 'string_pattern_mismatch'
            }),
            429: tooManyRequests('recovery requests'),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        await recovery.verifyEmail(request.body.token, audit.of(request))
        return await reply.code(204).send()
      })
    }

    const ownAccount = guards.requireScopes(OWN_ACCOUNT_SCOPES)
    for (const { url, ...variant } of pathVariants(app, '/users/me/email/verify-request')) {
      app.post(url, {
        onRequest: ownAccount,
        schema: {
          ...operationDocs(opts.docs, variant, 'requestEmailVerification', { scopes: OWN_ACCOUNT_SCOPES }),
          summary: 'Send the current user a new verification mail',
          description: 'Mails a new verification link to the account\'s email (the last link stops working). At most one mail a ' +
          'minute, and five an hour, reach one account: past that, the answer is still 202 and no mail is sent.',
          tags: ['users'],
          response: {
            202: { ...Accepted, description: 'Taken: the mail is sent after the answer' },
            400: badRequest(errors.EMAIL_MISSING, errors.EMAIL_ALREADY_VERIFIED),
            401: unauthorized,
            403: forbidden,
            429: tooManyRequests('recovery requests'),
            503: unavailable
          }
        }
      }, async (request, reply) => {
        const user = userOf(request)
        const account = await opts.internals.users.findByUsername(user.username)
        if (account === undefined) throw errors.INVALID_TOKEN.create()
        if (account.email === null) throw errors.EMAIL_MISSING.create()
        if (emailVerified(account)) throw errors.EMAIL_ALREADY_VERIFIED.create()
        const accountAudit = audit.of(request)
        afterAnswer.run('verification mail', async () => { await recovery.sendVerification(account, accountAudit) })
        return await reply.code(202).send(VERIFICATION_ACCEPTED)
      })
    }
  }
}

export default recoveryRoutes
