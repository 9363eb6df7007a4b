import Fastify from 'fastify'
import type { AccountChange, AdminUser, Guard, SessionRecord, Token, TokenAuth, TokenAuthAccounts, TokenAuthSettings, UserRecord, UserStore } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

const app = Fastify()

test('app.tokenAuth is TokenAuth', () => {
  expect(app.tokenAuth).type.toBe<TokenAuth>()
  expect(app.tokenAuth.settings).type.toBe<TokenAuthSettings>()
})

test('the settings the plugin runs with', () => {
  const { settings } = app.tokenAuth
  expect(settings.docs).type.toBe<'host' | 'own' | 'off'>()
  expect(settings.registration).type.toBe<'open' | 'closed'>()
  expect(settings.prefix).type.toBe<string>()
  expect(settings.tokenUrl).type.toBe<string>()
  expect(settings.issuer).type.toBe<string>()
  expect(settings.audience).type.toBe<string>()
  expect(settings.accessTokenExpireMinutes).type.toBe<number>()
  expect(settings.bcryptCost).type.toBe<number>()
  expect(settings.refreshTokenExpireDays).type.toBe<number>()
  expect(settings.sessionMaxDays).type.toBe<number>()
  expect(settings.refreshTokenReuseSeconds).type.toBe<number>()
  expect(settings.securityScheme).type.toBe<string>()
  expect(settings.operationIdPrefix).type.toBe<string>()
})

test('the settings are read-only', () => {
  expect(() => { app.tokenAuth.settings.docs = 'off' }).type.toRaiseError(2540)
  expect(() => { app.tokenAuth.users = { ...app.tokenAuth.users } }).type.toRaiseError(2540)
  expect(() => { app.tokenAuth.sessions = { ...app.tokenAuth.sessions } }).type.toRaiseError(2540)
  expect(() => { app.tokenAuth.accounts = { ...app.tokenAuth.accounts } }).type.toRaiseError(2540)
})

test('issueToken answers a Token', () => {
  expect(app.tokenAuth.issueToken('alice')).type.toBe<Promise<Token>>()
  expect(app.tokenAuth.issueToken('alice', { userAgent: 'host-login/1.0' })).type.toBe<Promise<Token>>()
  expect<Token>().type.toBe<{ access_token: string, token_type: 'bearer', expires_in: number, refresh_token: string, scope: string }>()
  expect(app.tokenAuth.issueToken('alice', { scope: 'me' })).type.toBe<Promise<Token>>()
  expect(app.tokenAuth.issueToken).type.not.toBeCallableWith('alice', { scope: ['me'] })
  expect(app.tokenAuth.issueToken).type.not.toBeCallableWith(1)
  expect(app.tokenAuth.issueToken).type.not.toBeCallableWith()
})

test('sessions: list, end one, end all', () => {
  expect(app.tokenAuth.sessions.list('alice')).type.toBe<Promise<SessionRecord[]>>()
  expect<SessionRecord>().type.toBe<{ id: string, username: string, userAgent: string | null, createdAt: string, lastUsedAt: string, expiresAt: string, scope: string | null, clientId: string | null, amr: string | null }>()
  expect(app.tokenAuth.sessions.end('alice', 'a-session-id')).type.toBe<Promise<boolean>>()
  expect(app.tokenAuth.sessions.endAll('alice')).type.toBe<Promise<number>>()
  expect(app.tokenAuth.sessions.endAll('alice', { actor: 'admin', operator: 'ops' })).type.toBe<Promise<number>>()
  expect(app.tokenAuth.sessions.endAll).type.not.toBeCallableWith('alice', { operator: 'ops' })
})

test('accounts: the changes that end sessions and are audited, passwords in the clear', () => {
  const { accounts } = app.tokenAuth
  expect(accounts).type.toBe<TokenAuthAccounts>()
  expect(accounts.create({ username: 'alice', password: 'a-long-password', email: null, disabled: true })).type.toBe<Promise<UserRecord>>()
  expect(accounts.create).type.not.toBeCallableWith({ username: 'alice', hashedPassword: 'h' })
  expect(accounts.setPassword('alice', 'a-long-password', { actor: 'cli' })).type.toBe<Promise<AccountChange | undefined>>()
  expect(accounts.disable('alice')).type.toBe<Promise<AccountChange | undefined>>()
  expect(accounts.enable('alice')).type.toBe<Promise<boolean>>()
  expect(accounts.delete('alice')).type.toBe<Promise<boolean>>()
  expect(accounts.update('alice', { fullName: null })).type.toBe<Promise<UserRecord | undefined>>()
  expect<AccountChange>().type.toBe<{ endedSessions: number }>()
})

test('accounts: the admin operations', () => {
  const { accounts } = app.tokenAuth
  expect(accounts.list({ limit: 50, offset: 0, prefix: 'al' })).type.toBe<Promise<AdminUser[]>>()
  expect(accounts.list).type.not.toBeCallableWith({ prefix: 'al' })
  expect(accounts.get('alice')).type.toBe<Promise<AdminUser | undefined>>()
  expect<AdminUser>().type.toBe<{ username: string, email: string | null, email_verified: boolean, full_name: string | null, disabled: boolean, is_admin: boolean, created_at: string | null, live_sessions: number }>()
  expect(accounts.setAdmin('alice', false, { actor: 'bob' })).type.toBe<Promise<AccountChange | undefined>>()
  expect(accounts.adminUpdate('alice', { disabled: true, isAdmin: false, email: null, fullName: 'Alice' }, { actor: 'bob' })).type.toBe<Promise<AdminUser | undefined>>()
  expect(accounts.adminUpdate).type.not.toBeCallableWith('alice', { is_admin: true })
  expect(accounts.endAllSessions({ except: 'a-session-id' }, { actor: 'bob' })).type.toBe<Promise<number>>()
  expect(accounts.endAllSessions()).type.toBe<Promise<number>>()
  expect(accounts.resetMfa('alice')).type.toBe<Promise<boolean>>()
  expect(accounts.resetMfa('alice', { actor: 'helpdesk' })).type.toBe<Promise<boolean>>()
})

test('users is the UserStore, hashPassword a bcrypt hash', () => {
  expect(app.tokenAuth.users).type.toBe<UserStore>()
  expect(app.tokenAuth.hashPassword('secret')).type.toBe<Promise<string>>()
  expect(app.tokenAuth.hashPassword).type.not.toBeCallableWith(Buffer.from('secret'))
})

test('the guards are on it whatever the decorators are called', () => {
  expect(app.tokenAuth.authenticate).type.toBe<Guard>()
  expect(app.tokenAuth.currentActiveUser).type.toBe<Guard>()
})
