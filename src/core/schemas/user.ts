import { Type, type Static } from '@sinclair/typebox'
import { nullable, TEXT_PATTERN } from './ref.js'

// ASCII only: no look-alike Unicode usernames, and lower() folds case identically in every engine.
export const USERNAME_PATTERN = '^[A-Za-z0-9._-]{3,64}$'
export const EMAIL_MAX_LENGTH = 254
export const FULL_NAME_MAX_LENGTH = 200

export const User = Type.Object({
  username: Type.String({ examples: ['johndoe'] }),
  email: nullable(Type.String({ format: 'email' })),
  full_name: nullable(Type.String()),
  disabled: Type.Boolean()
}, { $id: 'TokenAuth.User', description: 'A user account, as its owner sees it. Never carries a password or hash.' })
export type User = Static<typeof User>

export const UserCreate = Type.Object({
  username: Type.String({
    pattern: USERNAME_PATTERN,
    description: '3 to 64 letters, digits, dots, underscores or hyphens; unique ignoring case',
    examples: ['johndoe']
  }),
  password: Type.String({
    // The real rule is in bytes (see plugins/passwords.ts); 72 characters is the most that can pass it.
    maxLength: 72,
    description: '8 to 72 bytes when encoded as UTF-8 (bcrypt ignores anything past 72 bytes, so longer is refused)',
    format: 'password'
  }),
  email: Type.Optional(nullable(Type.String({ format: 'email', maxLength: EMAIL_MAX_LENGTH }))),
  full_name: Type.Optional(nullable(Type.String({ maxLength: FULL_NAME_MAX_LENGTH, pattern: TEXT_PATTERN })))
}, { $id: 'TokenAuth.UserCreate', additionalProperties: false, description: 'A registration.' })
export type UserCreate = Static<typeof UserCreate>
