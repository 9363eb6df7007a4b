import { Type, type Static } from '@sinclair/typebox'
import { ACCOUNT_TOKEN_PATTERN } from '../recovery/account-tokens.js'
import { EMAIL_MAX_LENGTH, newPassword, USERNAME_EXAMPLE, USERNAME_PATTERN } from './user.js'

// Account recovery: a password reset by mail, and the proof of an email address. Inline in
// their operations, without an $id: the routes exist only with a mailer, and a shared schema
// would sit unused in the documents of an instance without one.

const TOKEN_EXAMPLE = 'Zx3kqG0b7mV6uYh1sLw9Rr2pQa8NcT4eJfD5oKiBgU0'

const RecoveryToken = Type.String({
  pattern: ACCOUNT_TOKEN_PATTERN,
  description: 'The token from the link in the mail (after `#token=`): 43 characters of base64url',
  examples: [TOKEN_EXAMPLE]
})

export const PasswordResetRequest = Type.Object({
  email: Type.Optional(Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH, description: 'The verified email address of the account (or accounts)', examples: ['johndoe@example.com'] })),
  username: Type.Optional(Type.String({ pattern: USERNAME_PATTERN, description: 'Or the username: the mail goes to its verified address', examples: [USERNAME_EXAMPLE] }))
}, {
  additionalProperties: false,
  description: 'Who forgot a password: `email` or `username`, one of them.',
  examples: [{ email: 'johndoe@example.com' }, { username: USERNAME_EXAMPLE }]
})
export type PasswordResetRequest = Static<typeof PasswordResetRequest>

export const PasswordResetConfirm = Type.Object({
  token: RecoveryToken,
  new_password: newPassword('a-new-long-password')
}, {
  additionalProperties: false,
  description: 'A new password, with the token of a password reset mail.',
  examples: [{ token: TOKEN_EXAMPLE, new_password: 'a-new-long-password' }]
})
export type PasswordResetConfirm = Static<typeof PasswordResetConfirm>

export const EmailVerification = Type.Object({
  token: RecoveryToken
}, {
  additionalProperties: false,
  description: 'The token of an email verification mail.',
  examples: [{ token: TOKEN_EXAMPLE }]
})
export type EmailVerification = Static<typeof EmailVerification>

export const Accepted = Type.Object({
  detail: Type.String({ examples: ['If an account matches, a mail is on its way to its verified address'] })
}, {
  description: 'Taken: what happens next happens after the answer, which is the same whatever it finds.',
  examples: [{ detail: 'If an account matches, a mail is on its way to its verified address' }]
})
export type Accepted = Static<typeof Accepted>
