import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { onlyFieldsOf } from '../plugins/errors.js'
import { userOf } from '../plugins/guards.js'
import type { Internals } from '../plugins/internals.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import { addressLimit } from '../plugins/throttle.js'
import { errors } from '../src/errors.js'
import { codeOf, MfaCodeRefused } from '../src/mfa/mfa.js'
import { pathVariants } from '../src/route-paths.js'
import { MfaCodeRequest, MfaState, RecoveryCodes, TotpConfirmation, TotpEnrolment, TotpEnrolmentRequest, TotpRemoval } from '../src/schemas/mfa.js'
import { noContent } from '../src/schemas/ref.js'
import { badRequest, errorResponse, forbidden, payloadTooLarge, tooManyRequests, unauthorized, unavailable, unsupportedMediaType, validationFailed } from '../src/schemas/responses.js'
import { OWN_ACCOUNT_SCOPES } from '../src/scopes/scopes.js'

export interface MfaRoutesOptions {
  internals: Internals
  docs: RouteDocs
}

const OWN_ACCOUNT = { scopes: OWN_ACCOUNT_SCOPES }
// A password and a code at most.
const MFA_BODY_LIMIT = 4096

const CODE_ERRORS = [errors.OTP_INVALID, errors.OTP_REPLAYED, errors.RECOVERY_CODE_INVALID, errors.RECOVERY_CODE_USED, errors.RECOVERY_CODE_MALFORMED]
const codeLimit = tooManyRequests('requests to these routes, or too many wrong codes for the account (10 an hour by default)')

/**
 * The owner's second factor: TOTP enrolment and its confirmation, new recovery codes, turning
 * it off. Every route needs the account's own bearer token and counts against the `mfa` limit.
 */
const mfaRoutes: FastifyPluginAsyncTypebox<MfaRoutesOptions> = async function mfaRoutes (app, opts) {
  const { mfa, users, passwords, guards, audit, throttle: { admittedPasswordCheck } } = opts.internals
  const ownAccount = guards.requireScopes(OWN_ACCOUNT_SCOPES)
  await app.register(addressLimit, { throttle: opts.internals.throttle, limit: 'mfa' })

  /** The owner's password, checked under the token endpoint's admission: PASSWORD_INCORRECT (audited) when wrong. */
  async function checkPassword (request: FastifyRequest, password: string, check: string): Promise<void> {
    const { username } = userOf(request)
    const { valid } = await admittedPasswordCheck(request, username, async () => {
      const account = await users.findByUsername(username)
      return { valid: await passwords.verify(password, account?.hashedPassword) && account !== undefined }
    }, { username, check })
    if (!valid) {
      audit(request, 'password.check_failed', { username, check })
      throw errors.PASSWORD_INCORRECT.create()
    }
  }

  /** A change that needs a code, its refusal audited and answered from the table. */
  async function withCode<T> (request: FastifyRequest, change: () => Promise<T>): Promise<T> {
    try {
      return await change()
    } catch (error) {
      if (!(error instanceof MfaCodeRefused)) throw error
      audit(request, 'mfa.code_failed', { username: userOf(request).username, reason: error.reason })
      throw error.entry.create()
    }
  }

  for (const { url, ...variant } of pathVariants(app, '/users/me/mfa')) {
    app.get(url, {
      onRequest: ownAccount,
      schema: {
        ...operationDocs(opts.docs, variant, 'readMfa', OWN_ACCOUNT),
        summary: 'The current user\'s second factor',
        description: 'Whether TOTP is on (a login then needs a code after the password), and how many recovery codes are left.',
        tags: ['mfa'],
        response: { 200: { ...MfaState, description: 'The second factor' }, 400: badRequest(), 401: unauthorized, 403: forbidden, 503: unavailable }
      }
    }, async (request) => await mfa.status(userOf(request).username))
  }

  for (const { url, ...variant } of pathVariants(app, '/users/me/mfa/totp')) {
    app.post(url, {
      bodyLimit: MFA_BODY_LIMIT,
      onRequest: ownAccount,
      preValidation: onlyFieldsOf(TotpEnrolmentRequest),
      schema: {
        ...operationDocs(opts.docs, variant, 'startTotpEnrolment', OWN_ACCOUNT),
        summary: 'Start a TOTP enrolment',
        description: 'Needs the password. Answers a new secret and its `otpauth://` URI (for a QR code) to add to an authenticator app; ' +
          'TOTP is on once `POST /users/me/mfa/totp/verify` confirms a code. A pending enrolment is replaced. Sent with `Cache-Control: no-store`.',
        tags: ['mfa'],
        body: TotpEnrolmentRequest,
        response: {
          200: { ...TotpEnrolment, description: 'The pending enrolment: add it to an authenticator app, then confirm a code' },
          400: badRequest(errors.PASSWORD_INCORRECT),
          401: unauthorized,
          403: forbidden,
          409: errorResponse([errors.MFA_ALREADY_ENABLED]),
          413: payloadTooLarge('a password'),
          415: unsupportedMediaType,
          422: validationFailed('no password, or a field of another name', { loc: ['body', 'password'], msg: 'Field required', type: 'missing' }),
          429: tooManyRequests('requests to the second-factor routes, or password checks'),
          503: unavailable
        }
      }
    }, async (request, reply) => {
      await checkPassword(request, request.body.password, 'mfa_enrolment')
      reply.header('cache-control', 'no-store')
      return await mfa.enrol(userOf(request).username, audit.of(request))
    })

    app.delete(url, {
      bodyLimit: MFA_BODY_LIMIT,
      onRequest: ownAccount,
      preValidation: onlyFieldsOf(TotpRemoval),
      schema: {
        ...operationDocs(opts.docs, variant, 'disableTotp', OWN_ACCOUNT),
        summary: 'Turn TOTP off',
        description: 'Needs the password and a current code, or a recovery code (a lost authenticator). The secret and the recovery ' +
          'codes are gone; every other session of the user ends.',
        tags: ['mfa'],
        body: TotpRemoval,
        response: {
          204: noContent('TOTP is off; every other session of the user has ended'),
          400: badRequest(errors.PASSWORD_INCORRECT, errors.MFA_NOT_ENABLED, ...CODE_ERRORS),
          401: unauthorized,
          403: forbidden,
          413: payloadTooLarge('a password and a code'),
          415: unsupportedMediaType,
          422: validationFailed('no password or code, or a field of another name', { loc: ['body', 'code'], msg: 'Field required', type: 'missing' }),
          429: codeLimit,
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = userOf(request)
      await checkPassword(request, request.body.password, 'mfa_removal')
      await withCode(request, async () => { await mfa.disable(username, codeOf(request.body.code), guards.sessionOf(request), audit.of(request)) })
      return await reply.code(204).send()
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/users/me/mfa/totp/verify')) {
    app.post(url, {
      bodyLimit: MFA_BODY_LIMIT,
      onRequest: ownAccount,
      preValidation: onlyFieldsOf(TotpConfirmation),
      schema: {
        ...operationDocs(opts.docs, variant, 'confirmTotp', OWN_ACCOUNT),
        summary: 'Confirm a TOTP enrolment: TOTP is on',
        description: 'A code from the authenticator app turns the pending enrolment on. Answers ten recovery codes, shown this once; ' +
          'every other session of the user ends. Sent with `Cache-Control: no-store`.',
        tags: ['mfa'],
        body: TotpConfirmation,
        response: {
          200: { ...RecoveryCodes, description: 'TOTP is on: the recovery codes, shown this once' },
          400: badRequest(errors.MFA_NOT_PENDING, errors.OTP_INVALID, errors.OTP_REPLAYED),
          401: unauthorized,
          403: forbidden,
          413: payloadTooLarge('a code'),
          415: unsupportedMediaType,
          422: validationFailed('the code is not 6 digits, or a field of another name', {
            loc: ['body', 'code'], msg: "String should match pattern '^[0-9]{6}$'", type: 'string_pattern_mismatch'
          }),
          429: codeLimit,
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = userOf(request)
      const codes = await withCode(request, async () => await mfa.activate(username, request.body.code, guards.sessionOf(request), audit.of(request)))
      reply.header('cache-control', 'no-store')
      return { recovery_codes: codes }
    })
  }

  for (const { url, ...variant } of pathVariants(app, '/users/me/mfa/recovery-codes')) {
    app.post(url, {
      bodyLimit: MFA_BODY_LIMIT,
      onRequest: ownAccount,
      preValidation: onlyFieldsOf(MfaCodeRequest),
      schema: {
        ...operationDocs(opts.docs, variant, 'replaceRecoveryCodes', OWN_ACCOUNT),
        summary: 'New recovery codes',
        description: 'Needs a current code (or a recovery code). Ten new recovery codes, shown this once; the old ones stop working. ' +
          'Sent with `Cache-Control: no-store`.',
        tags: ['mfa'],
        body: MfaCodeRequest,
        response: {
          200: { ...RecoveryCodes, description: 'The new recovery codes, shown this once' },
          400: badRequest(errors.MFA_NOT_ENABLED, ...CODE_ERRORS),
          401: unauthorized,
          403: forbidden,
          413: payloadTooLarge('a code'),
          415: unsupportedMediaType,
          422: validationFailed('no code, or a field of another name', { loc: ['body', 'code'], msg: 'Field required', type: 'missing' }),
          429: codeLimit,
          503: unavailable
        }
      }
    }, async (request, reply) => {
      const { username } = userOf(request)
      const codes = await withCode(request, async () => await mfa.replaceCodes(username, codeOf(request.body.code), audit.of(request)))
      reply.header('cache-control', 'no-store')
      return { recovery_codes: codes }
    })
  }
}

export default mfaRoutes
