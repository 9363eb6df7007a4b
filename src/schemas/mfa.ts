import { Type, type Static } from '@sinclair/typebox'
import { PASSWORD_EXAMPLE } from './user.js'

// The second factor's routes under /users/me/mfa. Inline in their operations, as the recovery
// routes' are: they are the only users of these shapes.

const SECRET_EXAMPLE = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'
const URI_EXAMPLE = `otpauth://totp/fastify-token-auth:johndoe?secret=${SECRET_EXAMPLE}&issuer=fastify-token-auth`
const RECOVERY_CODES_EXAMPLE = ['7k2m-q9xd-4hv0-bn3s', 'c4rt-0wq8-mz2e-k7pa']

const Password = Type.String({ format: 'password', minLength: 1, maxLength: 1024, description: 'The account\'s password', examples: [PASSWORD_EXAMPLE] })
const Otp = Type.String({ pattern: '^[0-9]{6}$', description: 'The 6-digit code the authenticator app shows now', examples: ['123456'] })
const AnyCode = Type.String({
  minLength: 6,
  maxLength: 32,
  description: 'The 6-digit code the authenticator app shows now, or one of the recovery codes (spent by its use)',
  examples: ['123456']
})

export const TotpEnrolmentRequest = Type.Object({ password: Password }, {
  additionalProperties: false,
  description: 'The password, to start an enrolment.',
  examples: [{ password: PASSWORD_EXAMPLE }]
})
export type TotpEnrolmentRequest = Static<typeof TotpEnrolmentRequest>

export const TotpEnrolment = Type.Object({
  secret: Type.String({ description: 'The TOTP secret, base32: for typing into an authenticator app', examples: [SECRET_EXAMPLE] }),
  otpauth_uri: Type.String({ description: 'The same as an `otpauth://` URI, with the issuer and the account: for a QR code', examples: [URI_EXAMPLE] })
}, {
  description: 'A pending enrolment: add it to an authenticator app, then confirm with a code (SHA-1, 6 digits, 30 s).',
  examples: [{ secret: SECRET_EXAMPLE, otpauth_uri: URI_EXAMPLE }]
})

export const TotpConfirmation = Type.Object({ code: Otp }, {
  additionalProperties: false,
  description: 'A code from the authenticator app the enrolment was added to.',
  examples: [{ code: '123456' }]
})
export type TotpConfirmation = Static<typeof TotpConfirmation>

export const MfaCodeRequest = Type.Object({ code: AnyCode }, {
  additionalProperties: false,
  description: 'A current code, or a recovery code.',
  examples: [{ code: '123456' }]
})
export type MfaCodeRequest = Static<typeof MfaCodeRequest>

export const TotpRemoval = Type.Object({ password: Password, code: AnyCode }, {
  additionalProperties: false,
  description: 'The password and a current code (or a recovery code), to turn TOTP off.',
  examples: [{ password: PASSWORD_EXAMPLE, code: '123456' }]
})
export type TotpRemoval = Static<typeof TotpRemoval>

export const RecoveryCodes = Type.Object({
  recovery_codes: Type.Array(Type.String(), {
    description: 'Ten single-use codes, each good for one login (or one turning off) without the authenticator app. Shown this once: ' +
      'keep them somewhere safe',
    examples: [RECOVERY_CODES_EXAMPLE]
  })
}, {
  description: 'New recovery codes; any earlier ones no longer work.',
  examples: [{ recovery_codes: RECOVERY_CODES_EXAMPLE }]
})

export const MfaState = Type.Object({
  totp_enabled: Type.Boolean({ description: 'Whether a login needs a code after the password', examples: [true] }),
  recovery_codes_remaining: Type.Integer({ description: 'Unused recovery codes (0 while TOTP is off)', examples: [10] })
}, {
  description: 'The account\'s second factor.',
  examples: [{ totp_enabled: true, recovery_codes_remaining: 10 }]
})
