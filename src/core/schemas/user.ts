import { Type, type Static } from '@sinclair/typebox'
import { nullable, TEXT_PATTERN } from './ref.js'

// ASCII only: no look-alike Unicode usernames, and lower() folds case identically in every engine.
export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,64}$'
export const EMAIL_MAX_LENGTH = 254
export const FULL_NAME_MAX_LENGTH = 200

function newPassword () {
  return Type.String({
    // The real rule is in bytes (see src/core/passwords.ts); 72 characters is the most that can pass it.
    maxLength: 72,
    description: '8 to 72 bytes when encoded as UTF-8 (bcrypt ignores anything past 72 bytes, so longer is refused)',
    format: 'password',
    examples: ['a-long-password']
  })
}

const email = () => nullable(Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH, examples: ['johndoe@example.com'] }))
const fullName = () => nullable(Type.String({ maxLength: FULL_NAME_MAX_LENGTH, pattern: TEXT_PATTERN, examples: ['John Doe'] }))

export const User = Type.Object({
  username: Type.String({ examples: ['johndoe'] }),
  email: nullable(Type.String({ format: 'email', examples: ['johndoe@example.com'] })),
  full_name: nullable(Type.String({ examples: ['John Doe'] })),
  disabled: Type.Boolean({ examples: [false] })
}, { $id: 'TokenAuth.User', description: 'A user account, as its owner sees it. Never carries a password or hash.' })
export type User = Static<typeof User>

export const UserCreate = Type.Object({
  username: Type.String({
    pattern: USERNAME_PATTERN,
    description: '3 to 64 letters, digits, dots, underscores or hyphens; unique ignoring case',
    examples: ['johndoe']
  }),
  password: newPassword(),
  email: Type.Optional(email()),
  full_name: Type.Optional(fullName())
}, { $id: 'TokenAuth.UserCreate', additionalProperties: false, description: 'A registration.' })
export type UserCreate = Static<typeof UserCreate>

export const UserUpdate = Type.Object({
  email: Type.Optional(email()),
  full_name: Type.Optional(fullName())
}, { $id: 'TokenAuth.UserUpdate', additionalProperties: false, description: 'Profile changes: a field left out stays as it is, null clears it.' })
export type UserUpdate = Static<typeof UserUpdate>

export const PasswordChange = Type.Object({
  current_password: Type.String({ format: 'password', maxLength: 1024, examples: ['a-long-password'] }),
  new_password: newPassword()
}, { $id: 'TokenAuth.PasswordChange', additionalProperties: false, description: 'A password change: every other session of the user ends.' })
export type PasswordChange = Static<typeof PasswordChange>

export const AccountDeletion = Type.Object({
  password: Type.String({ format: 'password', maxLength: 1024, examples: ['a-long-password'] })
}, { $id: 'TokenAuth.AccountDeletion', additionalProperties: false, description: 'The current password, to confirm the deletion.' })
export type AccountDeletion = Static<typeof AccountDeletion>
