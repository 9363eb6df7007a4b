import { Type, type Static } from '@sinclair/typebox'
import { nullable, TEXT_PATTERN } from './ref.js'

// ASCII only: no look-alike Unicode usernames, and lower() folds case identically in every engine.
export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,64}$'
export const EMAIL_MAX_LENGTH = 254
export const FULL_NAME_MAX_LENGTH = 200

// The examples fit together: the registration's username and password log in (TokenForm) and
// confirm a deletion, and a password change moves to another one.
export const USERNAME_EXAMPLE = 'johndoe'
export const PASSWORD_EXAMPLE = 'a-long-password'
const NEW_PASSWORD_EXAMPLE = 'another-long-password'

export function newPassword (example: string) {
  return Type.String({
    // The real rule is in bytes (see src/accounts/passwords.ts); 72 characters is the most that can pass it.
    maxLength: 72,
    description: '8 to 72 bytes when encoded as UTF-8 (bcrypt ignores anything past 72 bytes, so longer is refused), and not on the list of common passwords',
    format: 'password',
    examples: [example]
  })
}

// The rules for an account's fields wherever one is made (registration, profile changes, the
// CLI). `format: 'email'` is checked by Fastify's validator; TypeBox's Value needs it registered.
/** A username: its pattern, as registration checks it. */
export const Username = Type.String({
  pattern: USERNAME_PATTERN,
  description: '3 to 64 letters, digits, dots, underscores or hyphens; unique ignoring case',
  examples: [USERNAME_EXAMPLE]
})
/** An email address of an account (not null). */
export const Email = Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH, description: 'An email address', examples: ['johndoe@example.com'] })
/** A full name of an account (not null). */
export const FullName = Type.String({ maxLength: FULL_NAME_MAX_LENGTH, pattern: TEXT_PATTERN, description: 'Up to 200 characters', examples: ['John Doe'] })

const email = () => nullable({ ...Email, description: 'An email address, or null for none' })
const fullName = () => nullable({ ...FullName, description: 'Up to 200 characters, or null for none' })

export const User = Type.Object({
  username: Type.String({ description: 'The name the user logs in with', examples: [USERNAME_EXAMPLE] }),
  email: nullable(Type.String({ format: 'email', examples: ['johndoe@example.com'] })),
  email_verified: Type.Boolean({ description: 'True once `email` is proven the owner\'s (a verification mail, or an administrator); false without an email', examples: [true] }),
  full_name: nullable(Type.String({ examples: ['John Doe'] })),
  disabled: Type.Boolean({ description: 'True for a disabled account: it can still log in and out, but the other operations that need a token answer 400', examples: [false] })
}, {
  $id: 'TokenAuth.User',
  description: 'A user account, as its owner sees it. Never carries a password or hash.',
  examples: [{ username: USERNAME_EXAMPLE, email: 'johndoe@example.com', email_verified: false, full_name: 'John Doe', disabled: false }]
})
export type User = Static<typeof User>

export const UserCreate = Type.Object({
  username: Username,
  password: newPassword(PASSWORD_EXAMPLE),
  email: Type.Optional(email()),
  full_name: Type.Optional(fullName())
}, {
  $id: 'TokenAuth.UserCreate',
  additionalProperties: false,
  description: 'A registration.',
  examples: [{ username: USERNAME_EXAMPLE, password: PASSWORD_EXAMPLE, email: 'johndoe@example.com', full_name: 'John Doe' }]
})
export type UserCreate = Static<typeof UserCreate>

export const UserUpdate = Type.Object({
  email: Type.Optional(email()),
  full_name: Type.Optional(fullName())
}, {
  $id: 'TokenAuth.UserUpdate',
  additionalProperties: false,
  description: 'Profile changes: a field left out stays as it is, null clears it.',
  examples: [{ email: 'john.doe@example.org', full_name: 'John Doe' }]
})
export type UserUpdate = Static<typeof UserUpdate>

export const PasswordChange = Type.Object({
  current_password: Type.String({ format: 'password', maxLength: 1024, description: 'The password the user logs in with now', examples: [PASSWORD_EXAMPLE] }),
  new_password: newPassword(NEW_PASSWORD_EXAMPLE)
}, {
  $id: 'TokenAuth.PasswordChange',
  additionalProperties: false,
  description: 'A password change: every other session of the user ends.',
  examples: [{ current_password: PASSWORD_EXAMPLE, new_password: NEW_PASSWORD_EXAMPLE }]
})
export type PasswordChange = Static<typeof PasswordChange>

export const AccountDeletion = Type.Object({
  password: Type.String({ format: 'password', maxLength: 1024, description: 'The current password', examples: [PASSWORD_EXAMPLE] })
}, {
  $id: 'TokenAuth.AccountDeletion',
  additionalProperties: false,
  description: 'The current password, to confirm the deletion.',
  examples: [{ password: PASSWORD_EXAMPLE }]
})
export type AccountDeletion = Static<typeof AccountDeletion>
