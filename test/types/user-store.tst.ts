import Fastify from 'fastify'
import tokenAuth, { UsernameTakenError, schemas, type NewUser, type ProfileChanges, type UserPage, type UserRecord, type UserStore } from 'fastify-token-auth'
import { expect, test } from 'tstyche'

const users = new Map<string, UserRecord>()

const mapStore = {
  async findByUsername (username: string) {
    return users.get(username)
  },
  async create (user: NewUser) {
    if (users.has(user.username)) throw new UsernameTakenError(user.username)
    const record: UserRecord = {
      username: user.username,
      email: user.email ?? null,
      fullName: user.fullName ?? null,
      disabled: user.disabled ?? false,
      hashedPassword: user.hashedPassword
    }
    users.set(record.username, record)
    return record
  },
  async setPassword (username: string, hashedPassword: string) {
    const user = users.get(username)
    if (user === undefined) return false
    users.set(username, { ...user, hashedPassword })
    return true
  },
  async setDisabled (username: string, disabled: boolean) {
    const user = users.get(username)
    if (user === undefined) return false
    users.set(username, { ...user, disabled })
    return true
  },
  async update (username: string, changes: ProfileChanges) {
    const user = users.get(username)
    if (user === undefined) return undefined
    const updated = { ...user, email: changes.email === undefined ? user.email : changes.email, fullName: changes.fullName === undefined ? user.fullName : changes.fullName }
    users.set(username, updated)
    return updated
  },
  async delete (username: string) {
    return users.delete(username)
  }
}

test('a Map-based store is a UserStore, and the plugin takes it', () => {
  expect(mapStore).type.toBeAssignableTo<UserStore>()
  expect(mapStore satisfies UserStore).type.not.toRaiseError()
  expect(Fastify().register(tokenAuth, { secret: 'a-secret-of-at-least-thirty-two-bytes', database: 'sqlite::memory:', store: mapStore })).type.not.toRaiseError()
})

test('a store typed as UserStore from the start', () => {
  expect(() => {
    const store: UserStore = {
      findByUsername: async (username) => users.get(username),
      create: async (user) => ({ email: null, fullName: null, disabled: false, ...user }),
      setPassword: async () => false,
      setDisabled: async () => false,
      update: async () => undefined,
      delete: async () => false
    }
    return store
  }).type.not.toRaiseError()
})

test('every method answers with a promise', () => {
  expect<ReturnType<UserStore['findByUsername']>>().type.toBe<Promise<UserRecord | undefined>>()
  expect<ReturnType<UserStore['create']>>().type.toBe<Promise<UserRecord>>()
  expect<ReturnType<UserStore['setPassword']>>().type.toBe<Promise<boolean>>()
  expect<ReturnType<UserStore['setDisabled']>>().type.toBe<Promise<boolean>>()
  expect<ReturnType<UserStore['update']>>().type.toBe<Promise<UserRecord | undefined>>()
  expect<ReturnType<UserStore['delete']>>().type.toBe<Promise<boolean>>()
})

test('a synchronous method is not a UserStore', () => {
  expect({ ...mapStore, findByUsername: (username: string) => users.get(username) } satisfies UserStore).type.toRaiseError(2322)
  expect({ ...mapStore, setDisabled: (username: string) => users.has(username) } satisfies UserStore).type.toRaiseError(2322)
  expect({ ...mapStore, findByUsername: (username: string) => users.get(username) }).type.not.toBeAssignableTo<UserStore>()
})

test('a store missing a method is not a UserStore', () => {
  const { update, ...partial } = mapStore
  expect(partial).type.not.toBeAssignableTo<UserStore>()
})

test('UserRecord and NewUser', () => {
  expect<UserRecord>().type.toBe<{ username: string, email: string | null, fullName: string | null, disabled: boolean, hashedPassword: string, isAdmin?: boolean, createdAt?: string, verifiedEmail?: string | null }>()
  expect<NewUser>().type.toBe<{ username: string, hashedPassword: string, email?: string | null, fullName?: string | null, disabled?: boolean, isAdmin?: boolean }>()
})

test('the admin methods are optional: a store without them (mapStore) is a UserStore; with them, typed', () => {
  expect<UserStore['setAdmin']>().type.toBe<((username: string, isAdmin: boolean) => Promise<boolean>) | undefined>()
  expect<UserStore['page']>().type.toBe<((page: UserPage) => Promise<UserRecord[]>) | undefined>()
  expect<UserPage>().type.toBe<{ limit: number, offset: number, prefix?: string }>()
  expect({ ...mapStore, setAdmin: async () => true, page: async () => [] } satisfies UserStore).type.not.toRaiseError()
  expect({ ...mapStore, setAdmin: async () => 'yes' } satisfies UserStore).type.toRaiseError(2322)
})

test('UsernameTakenError is an Error made from a username', () => {
  expect(new UsernameTakenError('alice')).type.toBeAssignableTo<Error>()
  expect(UsernameTakenError).type.not.toBeConstructableWith()
})

test('the shared schemas carry their $ids', () => {
  expect(schemas).type.toHaveProperty('User')
  expect(schemas).type.toHaveProperty('HTTPError')
  expect(schemas).type.toHaveProperty('OAuth2Error')
})
