import { Type, type Static } from '@sinclair/typebox'
import { MAX_PAGE_SIZE, MAX_PREFIX_LENGTH } from '../accounts/accounts.js'
import { nullable, TEXT_PATTERN } from './ref.js'
import { SessionParams } from './session.js'
import { Email, FullName, USERNAME_EXAMPLE } from './user.js'

// The admin API's schemas: accounts as an administrator sees them, and what one may change.

const adminUserExample = {
  username: USERNAME_EXAMPLE,
  email: 'johndoe@example.com',
  email_verified: true,
  full_name: 'John Doe',
  disabled: false,
  is_admin: false,
  created_at: '2026-11-02T10:15:00.000Z',
  live_sessions: 2
}

export const AdminUser = Type.Object({
  username: Type.String({ description: 'The name the user logs in with', examples: [USERNAME_EXAMPLE] }),
  email: nullable(Type.String({ format: 'email', examples: ['johndoe@example.com'] })),
  email_verified: Type.Boolean({ description: 'True once `email` is proven the owner\'s', examples: [true] }),
  full_name: nullable(Type.String({ examples: ['John Doe'] })),
  disabled: Type.Boolean({ description: 'True for a disabled account', examples: [false] }),
  is_admin: Type.Boolean({ description: 'True for an administrator: the account may be granted the `admin` scope', examples: [false] }),
  created_at: nullable(Type.String({ format: 'date-time', description: 'When the account was created (null where a host\'s user store does not keep it)', examples: [adminUserExample.created_at] })),
  live_sessions: Type.Integer({ minimum: 0, description: 'How many sessions of the user have not ended', examples: [2] })
}, {
  $id: 'TokenAuth.AdminUser',
  description: 'A user account, as an administrator sees it. Never carries a password or hash.',
  examples: [adminUserExample]
})
export type AdminUser = Static<typeof AdminUser>

export const AdminUserList = Type.Array(Type.Unsafe<AdminUser>(Type.Ref('TokenAuth.AdminUser')), {
  $id: 'TokenAuth.AdminUserList',
  description: 'A page of accounts, ordered by username',
  examples: [[adminUserExample, { ...adminUserExample, username: 'root', email: null, email_verified: false, full_name: null, is_admin: true, live_sessions: 1 }]]
})

export const AdminUserUpdate = Type.Object({
  disabled: Type.Optional(Type.Boolean({ description: 'true disables the account and ends every session of the user; false enables it', examples: [true] })),
  is_admin: Type.Optional(Type.Boolean({ description: 'true makes the account an administrator; false takes the rights and ends its sessions holding `admin`', examples: [false] })),
  email: Type.Optional(nullable({ ...Email, description: 'An email address, or null for none' })),
  email_verified: Type.Optional(Type.Literal(true, {
    description: 'true marks the address (the `email` given with it, else the account\'s) as proven, as a verification mail would',
    examples: [true]
  })),
  full_name: Type.Optional(nullable({ ...FullName, description: 'Up to 200 characters, or null for none' }))
}, {
  $id: 'TokenAuth.AdminUserUpdate',
  additionalProperties: false,
  description: 'An administrator\'s changes of an account, made all together or not at all: a field left out stays as it is, null clears a profile field. At least one field is needed.',
  examples: [{ disabled: true }]
})
export type AdminUserUpdate = Static<typeof AdminUserUpdate>

/** The largest page of GET /admin/users (the accounts module's), and its default. */
export const ADMIN_PAGE_MAX = MAX_PAGE_SIZE
export const ADMIN_PAGE_DEFAULT = 50

export const AdminUserQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: ADMIN_PAGE_MAX, default: ADMIN_PAGE_DEFAULT, description: 'The most accounts in one page', examples: [50] })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0, description: 'How many accounts (in username order) the page skips', examples: [0] })),
  q: Type.Optional(Type.String({
    maxLength: MAX_PREFIX_LENGTH,
    pattern: '^[A-Za-z0-9._@+-]*$',
    description: 'Only usernames starting with this, ignoring letter case',
    examples: ['john']
  }))
}, { additionalProperties: false })
export type AdminUserQuery = Static<typeof AdminUserQuery>

/** A username in a path: any account's (a host's store may allow more than registration does). */
const PathUsername = Type.String({ minLength: 1, maxLength: 254, pattern: TEXT_PATTERN, description: 'The account\'s username, exactly as stored', examples: [USERNAME_EXAMPLE] })

export const AdminUserParams = Type.Object({ username: PathUsername })
export type AdminUserParams = Static<typeof AdminUserParams>

export const AdminSessionParams = Type.Object({ username: PathUsername, session_id: SessionParams.properties.session_id })
export type AdminSessionParams = Static<typeof AdminSessionParams>

export const EndedSessions = Type.Object({
  ended_sessions: Type.Integer({ minimum: 0, description: 'How many sessions ended', examples: [3] })
}, {
  $id: 'TokenAuth.EndedSessions',
  description: 'How many sessions a sign-out ended',
  examples: [{ ended_sessions: 3 }]
})
export type EndedSessions = Static<typeof EndedSessions>
