import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { CompiledQuery, sql } from 'kysely'
import t, { type Test } from 'tap'
import { buildApp, createUser, testSecret } from '../helper.js'
import {
  anyRequest, anyText, encode, encodeForm, extraHeaders, headerText, itemCreateRequest, itemsListRequest, mePatchRequest, POOL, refusedRequest,
  signJwt, tamper, toJsonText, unicodeUnit,
  type Auth, type Body, type Family, type ForgedClaims, type FreshUser, type FuzzRequest, type Json, type PoolName, type Ref,
  type StandingUser, type Text
} from './fuzz-support.js'

// Property-based fuzzing of every route of the standalone service, in process (app.inject), on
// a real SQLite database. Three phases, each a fast-check property over generated requests:
//
// - refused: requests the service must refuse (bad or no credentials, invalid input, wrong
//   passwords, unknown paths); each must be refused, and the tables must be as they were after
//   the whole phase;
// - mixed: anything, valid requests with real tokens included;
// - lifecycle: fresh accounts taken through random sequences of logins, refreshes, reuse,
//   profile and password changes, item and session operations, logout, revocation, deletion.
//
// Over every request: no 5xx; every 4xx has a JSON `detail`; every 401 says WWW-Authenticate:
// Bearer; no answer holds a password hash; a refused request (any 4xx, a 429 of a rate limit
// included) changes no row, except the one refusal that ends a session by design (a refresh
// token reused late, or of a disabled user); a read changes no row. Rows are watched through
// SQLite's count of rows changed, read after every request (the service has one connection),
// and by comparing every table before and after a refresh grant of a real token and one
// mutating request in DIGEST_EVERY. Violations are collected rather than thrown, so one bug
// does not hide the rest of the run: each property fails once, with the smallest request
// that broke it, as sent, and the answer.
//
// FUZZ_SEED=<integer> replays another run; the seed and the counts are printed as comments.

const SEED = process.env.FUZZ_SEED === undefined || process.env.FUZZ_SEED === '' ? 20_261_201 : Number(process.env.FUZZ_SEED)
if (!Number.isSafeInteger(SEED)) throw new Error(`FUZZ_SEED must be an integer, not ${String(process.env.FUZZ_SEED)}`)
const RUNS = { refused: 4300, mixed: 4900, lifecycle: 140 }
// Every run is made, whatever the load: the request count is the seed's, never the clock's.
// The file's own hang limit is wide for a loaded machine (a quiet run takes under 30 s).
t.setTimeout(300_000)
const MIN_REQUESTS = 10_000
/** One mutating request in this many gets its tables compared, beside SQLite's change count. */
const DIGEST_EVERY = 20
const TABLES = ['users', 'sessions', 'refresh_tokens', 'items'] as const
type Table = typeof TABLES[number]

const SECRET = testSecret()

/**
 * The service under test, built in this one place (options a future change adds, such as
 * switching a rate limit off, go here): the standalone service on a fresh SQLite database in
 * memory, bcrypt at its cheapest cost, with a secret the test knows so it can forge tokens.
 */
async function buildFuzzApp (t: Test): Promise<FastifyInstance> {
  return await buildApp(t, { secret: SECRET, bcryptCost: 4 }, 'sqlite')
}

const PROPERTIES = [
  'no answer is a 5xx',
  'every 4xx has a JSON body with a detail',
  'every 401 says WWW-Authenticate: Bearer',
  'no answer holds a password hash',
  'a refused request changes no row',
  'a read changes no row',
  'the refused phase refuses every request',
  'the refused phase leaves every table as it was',
  'lifecycle: the service agrees with the model',
  'no prototype pollution'
] as const
type Property = typeof PROPERTIES[number]

interface Sent { method: string, url: string, headers: Record<string, string>, payload?: string | Buffer }
interface Violation { example: string, size: number, count: number }

const HASH = /\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}/

type Snapshot = Record<Table, Set<string>>

function clip (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars in all)`
}

function describeSent (sent: Sent): string {
  const payload = sent.payload === undefined
    ? undefined
    : Buffer.isBuffer(sent.payload) ? `bytes (base64) ${clip(sent.payload.toString('base64'), 600)}` : clip(sent.payload, 600)
  return JSON.stringify({
    method: sent.method,
    url: clip(sent.url, 400),
    headers: Object.fromEntries(Object.entries(sent.headers).map(([k, v]) => [k, clip(v, 300)])),
    ...(payload === undefined ? {} : { payload })
  })
}

function describeResponse (res: LightMyRequestResponse): string {
  return JSON.stringify({
    status: res.statusCode,
    'content-type': res.headers['content-type'],
    'www-authenticate': res.headers['www-authenticate'],
    body: clip(res.body, 400)
  })
}

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sid

const SPELLINGS = ['Bearer %s', 'bearer %s', 'BEARER %s', 'Bearer   %s', 'Bearer %s ', 'bEaReR %s']

/** What the run knows of the service's state, and the counts. */
class Fuzzer {
  readonly counts = new Map<string, Map<number, number>>()
  readonly violations = new Map<Property, Violation>()
  /** Requests the generators made. */
  generated = 0
  /** Requests the test sent itself: the set-up, and logins for the requests that need a fresh session. */
  support = 0
  standing = {} as Record<StandingUser, { access: string, sid: string }>
  items: Record<string, number[]> = { johndoe: [], jane: [], alice: [] }
  fodder: string[] = []
  deletedUserToken = ''
  /** A session of rover and of frozen for the requests that need one, kept while they leave it alive. */
  freshSessions: Partial<Record<FreshUser, { access: string, refresh: string, sid: string }>> = {}
  /** Set in the refused phase: nothing may log in, since that would change rows. */
  noFreshLogins = false

  constructor (readonly app: FastifyInstance) {}

  private readonly totalChanges = CompiledQuery.raw('select total_changes() as n')
  /** The change count after the last generated request, while nothing else has been sent since. */
  private knownChanges: number | undefined

  /** How many rows this connection (the service's only one) has inserted, updated or deleted. */
  async changes (): Promise<number> {
    const result = await this.app.db.executeQuery<{ n: number }>(this.totalChanges)
    return Number(result.rows[0]?.n)
  }

  private digestQuery: string | undefined

  /**
   * Every table's rows as one string each, built by SQLite itself in one query (far cheaper
   * than reading the rows out): equal digests, equal tables.
   */
  async digest (): Promise<string[]> {
    if (this.digestQuery === undefined) {
      const parts: string[] = []
      for (const table of TABLES) {
        const columns = (await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(this.app.db)).rows.map((c) => `quote("${c.name}")`)
        parts.push(`(select group_concat(${columns.join(" || ',' || ")}, char(10)) from (select * from "${table}" order by rowid)) as "${table}"`)
      }
      this.digestQuery = `select ${parts.join(', ')}`
    }
    const row = (await sql<Record<Table, string | null>>`${sql.raw(this.digestQuery)}`.execute(this.app.db)).rows[0]
    return TABLES.map((table) => row?.[table] ?? '')
  }

  async snapshot (): Promise<Snapshot> {
    const snapshot = {} as Snapshot
    for (const table of TABLES) {
      const rows = await this.app.db.selectFrom(table).selectAll().execute()
      snapshot[table] = new Set(rows.map((row) => JSON.stringify(row)))
    }
    return snapshot
  }

  violate (property: Property, example: string): void {
    const found = this.violations.get(property)
    if (found === undefined) {
      this.violations.set(property, { example, size: example.length, count: 1 })
    } else {
      found.count++
      if (example.length < found.size) Object.assign(found, { example, size: example.length })
    }
  }

  count (family: string, status: number): void {
    let byStatus = this.counts.get(family)
    if (byStatus === undefined) this.counts.set(family, byStatus = new Map())
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1)
  }

  async inject (options: InjectOptions): Promise<LightMyRequestResponse> {
    this.support++
    this.knownChanges = undefined
    return await this.app.inject(options)
  }

  /** A new session of a user, through POST /token; its refresh token joins the fodder unless it must stay unused. */
  async freshLogin (user: PoolName, userAgent = 'fuzz', { fodder = true } = {}): Promise<{ access: string, refresh: string, sid: string }> {
    const res = await this.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent },
      payload: new URLSearchParams({ username: POOL[user].username, password: POOL[user].password }).toString()
    })
    if (res.statusCode !== 200) throw new Error(`login of ${user} failed: ${res.statusCode} ${res.body}`)
    const pair = res.json()
    if (fodder) this.keepFodder(pair.refresh_token)
    return { access: pair.access_token, refresh: pair.refresh_token, sid: sidOf(pair.access_token) }
  }

  keepFodder (token: string): void {
    this.fodder.push(token)
    if (this.fodder.length > 64) this.fodder.splice(0, this.fodder.length - 64)
  }

  forge (claims: ForgedClaims, signing: Extract<Auth, { kind: 'forged' }>['signing']): string {
    const now = Math.floor(Date.now() / 1000)
    const time = (value: { offset: number } | { value: unknown } | { absent: true }) =>
      'offset' in value ? now + value.offset : 'value' in value ? value.value : undefined
    const subUser = 'user' in claims.sub ? claims.sub.user : undefined
    const other: StandingUser = subUser === 'johndoe' ? 'jane' : 'johndoe'
    const payload: Record<string, unknown> = {
      sub: subUser !== undefined ? POOL[subUser].username : 'value' in claims.sub ? claims.sub.value : undefined,
      sid: claims.sid === 'own'
        ? this.standing[subUser ?? 'johndoe'].sid
        : claims.sid === 'other' ? this.standing[other].sid : 'value' in claims.sid ? claims.sid.value : undefined,
      iat: time(claims.iat),
      exp: time(claims.exp),
      ...(claims.nbf === undefined ? {} : { nbf: now + claims.nbf.offset }),
      iss: typeof claims.iss === 'string' ? claims.iss : undefined,
      aud: typeof claims.aud === 'string' ? claims.aud : undefined
    }
    for (const key of Object.keys(payload)) if (payload[key] === undefined) delete payload[key]
    switch (signing) {
      case 'secret': return signJwt({ alg: 'HS256', typ: 'JWT' }, payload, SECRET)
      case 'other-secret': return signJwt({ alg: 'HS256', typ: 'JWT' }, payload, testSecret())
      case 'alg-none': return signJwt({ alg: 'none', typ: 'JWT' }, payload, undefined)
      case 'hs384': return signJwt({ alg: 'HS384', typ: 'JWT' }, payload, SECRET, 'sha384')
      case 'hs512': return signJwt({ alg: 'HS512', typ: 'JWT' }, payload, SECRET, 'sha512')
      case 'rs256-header': return signJwt({ alg: 'RS256', typ: 'JWT' }, payload, SECRET)
    }
  }

  /** The Authorization header of a request, and its fresh session when it has one. */
  authorization (auth: Auth, fresh: { access: string } | undefined): string | undefined {
    switch (auth.kind) {
      case 'none': return undefined
      case 'raw': return auth.value
      case 'standing': return (SPELLINGS[auth.spelling % SPELLINGS.length] as string).replace('%s', this.standing[auth.user].access)
      case 'fresh': return `Bearer ${fresh?.access ?? ''}`
      case 'tampered': return `Bearer ${tamper(this.standing[auth.user].access, auth.how)}`
      case 'forged': return `Bearer ${this.forge(auth.claims, auth.signing)}`
      case 'deleted-user': return `Bearer ${this.deletedUserToken}`
    }
  }

  /** Turns a generated request into one to send. */
  async resolve (req: FuzzRequest): Promise<{ sent: Sent, options: InjectOptions, fresh?: { access: string, refresh: string, sid: string } }> {
    const refs: Ref[] = []
    const collect = (text: Text) => { if (typeof text !== 'string') refs.push(text) }
    req.path.forEach(collect)
    if (req.body.kind === 'form') req.body.fields.forEach(([, v]) => { collect(v) })
    const needsFresh = req.auth.kind === 'fresh' || refs.some((r) => r.ref.startsWith('fresh-'))
    const freshUser: FreshUser = req.auth.kind === 'fresh' ? req.auth.user : 'rover'
    if (needsFresh && this.noFreshLogins) throw new Error('a refused-phase generator asked for a fresh login')
    // A failed login (a rate limit, say) sends the request without a usable token.
    const fresh = needsFresh ? (this.freshSessions[freshUser] ??= await this.freshLogin(freshUser).catch(() => undefined)) : undefined
    // Whose token it is (a forged token's claimed user): `other-sid` and `other-item` are never theirs.
    const owner: StandingUser = req.auth.kind === 'standing' || req.auth.kind === 'tampered'
      ? req.auth.user
      : req.auth.kind === 'forged' && 'user' in req.auth.claims.sub ? req.auth.claims.sub.user : 'johndoe'
    const otherUser: StandingUser = owner === 'johndoe' ? 'jane' : 'johndoe'
    const pick = (list: readonly string[] | number[], n: number, none: string) => list.length === 0 ? none : String(list[n % list.length])
    const text = (value: Text): string => {
      if (typeof value === 'string') return value
      switch (value.ref) {
        case 'own-item': return pick(this.items[owner] ?? [], value.pick, '2147483647')
        case 'other-item': return pick(this.items[otherUser] ?? [], value.pick, '2147483646')
        case 'other-sid': return this.standing[otherUser].sid
        case 'fresh-sid': return fresh?.sid ?? ''
        case 'fresh-access': return fresh?.access ?? ''
        case 'fresh-refresh': return fresh?.refresh ?? ''
        case 'fodder-refresh': return pick(this.fodder, value.pick, 'no-fodder')
        case 'tampered-access': return tamper(this.standing.johndoe.access, 'signature')
        case 'password-of': return POOL[value.user].password
      }
    }
    const json = (value: Json): Json => {
      if (Array.isArray(value)) return value.map(json)
      if (value !== null && typeof value === 'object') {
        if ('ref' in value) return text(value)
        if ('obj' in value) return { obj: value.obj.map(([k, v]) => [k, json(v)]) }
      }
      return value
    }
    const url = '/' + req.path.map(text).join('/') + (req.query === '' ? '' : `?${req.query}`)
    const headers: Record<string, string> = { ...req.headers }
    const authorization = this.authorization(req.auth, fresh)
    if (authorization !== undefined) headers.authorization = authorization
    if (req.contentType !== undefined) headers['content-type'] = req.contentType
    const payload = this.payload(req.body, text, json)
    const sent: Sent = { method: req.method, url, headers, ...(payload === undefined ? {} : { payload }) }
    return { sent, options: { method: req.method, url, headers, ...(payload === undefined ? {} : { payload }) }, ...(fresh === undefined ? {} : { fresh }) }
  }

  payload (body: Body, text: (value: Text) => string, json: (value: Json) => Json): string | Buffer | undefined {
    switch (body.kind) {
      case 'none': return undefined
      case 'form': return encodeForm(body.fields.map(([k, v]) => [k, text(v)]), body.encoding, body.junk)
      case 'json': return toJsonText(json(body.value))
      case 'text': return body.text
      case 'bytes': return Buffer.from(body.bytes)
    }
  }

  readonly timing = { generate: 0, resolve: 0, digest: 0, inject: 0, checks: 0 }
  private last = performance.now()

  /** Sends a generated request and checks every property on its answer. */
  async send (req: FuzzRequest, phase: 'refused' | 'mixed' | 'lifecycle', options?: { resolved?: Awaited<ReturnType<Fuzzer['resolve']>> }): Promise<LightMyRequestResponse> {
    let tick = performance.now()
    const lap = (key: keyof Fuzzer['timing']) => { const now = performance.now(); this.timing[key] += now - tick; tick = now }
    this.timing.generate += tick - this.last
    const resolved = options?.resolved ?? await this.resolve(req)
    lap('resolve')
    const mutating = req.inert !== true
    // Every request: SQLite's count of rows changed. A refresh grant of a real token, which may
    // end a session by design, and one mutating request in DIGEST_EVERY: the tables compared too.
    const compare = mutating && ((req.family === 'POST /token (refresh_token)' && realToken(req)) || this.generated % DIGEST_EVERY === 0)
    const changesBefore = this.knownChanges ?? await this.changes()
    const digestBefore = compare ? await this.digest() : undefined
    lap('digest')
    this.generated++
    const res = await this.app.inject(resolved.options)
    lap('inject')
    const changes = await this.changes() - changesBefore
    this.knownChanges = changesBefore + changes
    this.count(req.family, res.statusCode)
    const example = () => `${describeSent(resolved.sent)} -> ${describeResponse(res)}`

    if (res.statusCode >= 500) this.violate('no answer is a 5xx', example())
    if (res.statusCode >= 400 && res.statusCode < 500 && req.method !== 'HEAD' && !hasDetail(res)) this.violate('every 4xx has a JSON body with a detail', example())
    if (res.statusCode === 401 && !/^Bearer\b/.test(String(res.headers['www-authenticate']))) this.violate('every 401 says WWW-Authenticate: Bearer', example())
    if (HASH.test(res.body)) this.violate('no answer holds a password hash', example())
    if (phase === 'refused' && res.statusCode < 400) this.violate('the refused phase refuses every request', example())

    const refused = res.statusCode >= 400
    if (refused || !mutating) {
      const digestAfter = digestBefore === undefined ? undefined : await this.digest()
      const tables = digestBefore === undefined || digestAfter === undefined ? [] : changedTables(digestBefore, digestAfter)
      if (changes !== 0 || tables.length > 0) {
        const byDesign = refused && digestBefore !== undefined && digestAfter !== undefined && endedOneSession(res, digestBefore, digestAfter)
        if (!byDesign) {
          this.violate(refused ? 'a refused request changes no row' : 'a read changes no row',
            `${example()} changed ${changes} row(s) (SQLite's count)${tables.length > 0 ? `, tables ${tables.join(', ')}` : ''}`)
        }
      }
    }

    this.learn(req, res, resolved.sent)
    // A fresh session may have ended, or its refresh token been spent, unless the request was refused before it counted.
    if (resolved.fresh !== undefined && !(res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 401)) {
      for (const user of ['rover', 'frozen'] as const) if (this.freshSessions[user] === resolved.fresh) delete this.freshSessions[user]
    }
    lap('checks')
    this.last = performance.now()
    return res
  }

  /** Keeps what the generators refer to up to date: items created and deleted, refresh tokens issued. */
  learn (req: FuzzRequest, res: LightMyRequestResponse, sent: Sent): void {
    const owner = req.auth.kind === 'standing' ? req.auth.user : undefined
    if (req.family === 'POST /users/me/items/' && res.statusCode === 201 && owner !== undefined) {
      this.items[owner]?.push(res.json().item_id)
    }
    if (req.family === 'DELETE /users/me/items/:item_id' && res.statusCode === 204 && owner !== undefined) {
      // The id as the service read it: the segment sent, decoded and coerced as Ajv does.
      const segment = new URL(sent.url, 'http://localhost').pathname.split('/')[4] ?? ''
      let id = Number.NaN
      try { id = Number(decodeURIComponent(segment)) } catch {}
      this.items[owner] = (this.items[owner] ?? []).filter((item) => item !== id)
    }
    if (req.family.startsWith('POST /token') && res.statusCode === 200) this.keepFodder(res.json().refresh_token)
  }
}

/** Whether a request carries a real refresh token (a refresh grant of any other token must change nothing). */
const realToken = (req: FuzzRequest) =>
  (req.body.kind === 'form' && req.body.fields.some(([, value]) => typeof value !== 'string')) ||
  String(req.path[0]).startsWith('/') // the lifecycle's own requests, whose path is the whole URL

function json (res: LightMyRequestResponse): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(res.body)
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

function hasDetail (res: LightMyRequestResponse): boolean {
  if (!String(res.headers['content-type']).startsWith('application/json')) return false
  const detail = json(res)?.detail
  return typeof detail === 'string' || Array.isArray(detail)
}

function describeDiff (before: Snapshot, after: Snapshot): string | undefined {
  const parts: string[] = []
  for (const table of TABLES) {
    const gone = [...before[table]].filter((row) => !after[table].has(row))
    const added = [...after[table]].filter((row) => !before[table].has(row))
    if (gone.length > 0 || added.length > 0) parts.push(`${table}: -${gone.length} +${added.length} ${clip(JSON.stringify({ gone: gone.slice(0, 2), added: added.slice(0, 2) }), 400)}`)
  }
  return parts.length === 0 ? undefined : parts.join('; ')
}

const sameSnapshot = (a: Snapshot, b: Snapshot) => describeDiff(a, b) === undefined

const changedTables = (before: string[], after: string[]): Table[] => TABLES.filter((_, i) => before[i] !== after[i])

/**
 * A refresh grant refused with invalid_grant may end the token's session by design (the token
 * reused after the window, or of a disabled user): then that one session is gone with its
 * refresh tokens, and nothing else has changed. (Digest lines are rows: no session or refresh
 * token column holds a newline, header values cannot.)
 */
function endedOneSession (res: LightMyRequestResponse, before: string[], after: string[]): boolean {
  if (res.statusCode !== 400 || json(res)?.error !== 'invalid_grant') return false
  const rows = (digest: string[], table: Table) => new Set((digest[TABLES.indexOf(table)] ?? '').split('\n').filter((line) => line !== ''))
  const gone = (table: Table) => {
    const was = rows(before, table)
    const is = rows(after, table)
    return [...is].every((row) => was.has(row)) ? [...was].filter((row) => !is.has(row)) : undefined
  }
  const sessions = gone('sessions')
  const tokens = gone('refresh_tokens')
  if (sessions === undefined || tokens === undefined || sessions.length !== 1) return false
  // quote() writes a session row as 'id','username',...; a refresh token row as 'hash','session id',...
  const sessionId = (sessions[0] as string).split(',')[0]
  return changedTables(before, after).every((table) => table === 'sessions' || table === 'refresh_tokens') &&
    tokens.every((row) => row.split(',')[1] === sessionId)
}

/** The users, items, standing sessions and side sessions the run starts with. */
async function setUp (fuzzer: Fuzzer): Promise<void> {
  const { app } = fuzzer
  for (const name of Object.keys(POOL) as PoolName[]) {
    const user = POOL[name]
    await createUser(app, { ...user, email: `${name}@example.com`, fullName: `${name} of the fuzz`, disabled: name === 'alice' || name === 'frozen' })
  }
  for (const user of ['johndoe', 'jane', 'alice'] as const) {
    // Their refresh tokens are never used: a late reuse, or a revocation, would end them.
    const pair = await fuzzer.freshLogin(user, 'standing', { fodder: false })
    fuzzer.standing[user] = { access: pair.access, sid: pair.sid }
  }
  for (const user of ['johndoe', 'jane'] as const) {
    for (let i = 0; i < 4; i++) {
      const res = await fuzzer.inject({ method: 'POST', url: '/users/me/items/', headers: { authorization: `Bearer ${fuzzer.standing[user].access}` }, payload: { title: `${user}'s item ${i}` } })
      fuzzer.items[user]?.push(res.json().item_id)
    }
  }
  for (const user of ['jane', 'rover', 'frozen', 'rover'] as const) await fuzzer.freshLogin(user, 'side session')
  // A token whose user is gone: its session went with the account.
  await createUser(app, { username: 'ghost', password: 'ghostly-password' })
  const ghost = await fuzzer.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=ghost&password=ghostly-password' })
  fuzzer.deletedUserToken = ghost.json().access_token
  const gone = await fuzzer.inject({ method: 'DELETE', url: '/users/me/', headers: { authorization: `Bearer ${fuzzer.deletedUserToken}` }, payload: { password: 'ghostly-password' } })
  if (gone.statusCode !== 204) throw new Error(`could not delete ghost: ${gone.body}`)
}

// ---------------------------------------------------------------------------------------------
// The lifecycle scenarios: one fresh account each, and a random sequence of operations on it.

type Op =
  | { op: 'login', userAgent: string }
  | { op: 'wrong-login', password: string }
  | { op: 'refresh' }
  | { op: 'reuse' }
  | { op: 'me' }
  | { op: 'patch', request: FuzzRequest }
  | { op: 'create-item', request: FuzzRequest }
  | { op: 'list-items', request: FuzzRequest }
  | { op: 'item', method: 'GET' | 'DELETE', pick: number, known: boolean }
  | { op: 'sessions' }
  | { op: 'end-session', which: 'current' | 'other' | 'unknown', pick: number }
  | { op: 'logout', scope: string }
  | { op: 'revoke', which: 'access' | 'refresh' | 'old-refresh', hint: string | undefined }
  | { op: 'password', kind: 'right' | 'wrong' | 'invalid', next: string }
  | { op: 'delete', right: boolean }

const newPassword = fc.string({ minLength: 8, maxLength: 30 })

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('login' as const), userAgent: headerText(40) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wrong-login' as const), password: anyText(40) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'refresh' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'reuse' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'me' as const }) },
  { weight: 2, arbitrary: mePatchRequest('any').map((request) => ({ op: 'patch' as const, request })) },
  { weight: 3, arbitrary: itemCreateRequest('any').map((request) => ({ op: 'create-item' as const, request })) },
  { weight: 1, arbitrary: itemsListRequest('any').map((request) => ({ op: 'list-items' as const, request })) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('item' as const), method: fc.constantFrom<'GET' | 'DELETE'>('GET', 'DELETE'), pick: fc.nat(), known: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ op: 'sessions' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('end-session' as const), which: fc.constantFrom<'current' | 'other' | 'unknown'>('current', 'other', 'other', 'unknown'), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('logout' as const), scope: fc.oneof(fc.constantFrom('', 'local', 'others', 'global'), anyText(8)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('revoke' as const), which: fc.constantFrom<'access' | 'refresh' | 'old-refresh'>('access', 'refresh', 'old-refresh'), hint: fc.option(fc.constantFrom('access_token', 'refresh_token', 'junk'), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('password' as const), kind: fc.constantFrom<'right' | 'wrong' | 'invalid'>('right', 'wrong', 'invalid'), next: newPassword }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), right: fc.boolean() }) }
)

const scenarioArbitrary = fc.record({
  username: fc.stringMatching(/^[A-Za-z0-9._-]{3,40}$/),
  password: newPassword,
  email: fc.option(fc.emailAddress().filter((e) => e.length <= 254), { nil: undefined }),
  fullName: fc.option(fc.string({ unit: unicodeUnit, maxLength: 30 }).filter((s) => !s.includes('\0')), { nil: undefined }),
  headers: extraHeaders,
  ops: fc.array(opArbitrary, { minLength: 4, maxLength: 14 })
})
type Scenario = typeof scenarioArbitrary extends fc.Arbitrary<infer S> ? S : never

interface Session { access: string, refresh: string, spent: string[], sid: string, live: boolean }

let scenarioCount = 0

async function runScenario (fuzzer: Fuzzer, scenario: Scenario): Promise<void> {
  const username = `${scenario.username.slice(0, 50)}-${++scenarioCount}`
  let password = scenario.password
  let exists = true
  const sessions: Session[] = []
  let current: Session | undefined
  const items: number[] = []

  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
  const bearer = (): Record<string, string> => current === undefined ? {} : { authorization: `Bearer ${current.access}` }
  // A 429 (a rate limit) tells nothing about the model: the request did nothing.
  const expect = (condition: boolean, what: string, res: LightMyRequestResponse) => {
    if (!condition && res.statusCode !== 429) fuzzer.violate('lifecycle: the service agrees with the model', `${what} (user ${username}): ${describeResponse(res)}`)
  }
  /** Sends a request the scenario builds, as a generated one. */
  const send = async (family: Family, method: FuzzRequest['method'], url: string, options: { headers?: Record<string, string>, payload?: string, contentType?: string, inert?: true } = {}) => {
    const headers = { ...options.headers, ...(options.contentType === undefined ? {} : { 'content-type': options.contentType }) }
    const sent: Sent = { method, url, headers, ...(options.payload === undefined ? {} : { payload: options.payload }) }
    const req: FuzzRequest = { family, method, path: [url], query: '', auth: { kind: 'none' }, headers, body: { kind: 'none' }, ...(options.inert === true ? { inert: true as const } : {}) }
    return await fuzzer.send(req, 'lifecycle', { resolved: { sent, options: { method, url, headers, ...(options.payload === undefined ? {} : { payload: options.payload }) } } })
  }
  const asLifecycle = async (template: FuzzRequest) => {
    const req: FuzzRequest = { ...template, auth: { kind: 'none' } }
    const resolved = await fuzzer.resolve(req)
    if (current !== undefined) {
      resolved.sent.headers.authorization = `Bearer ${current.access}`
      resolved.options.headers = { ...resolved.options.headers, authorization: `Bearer ${current.access}` }
    }
    return await fuzzer.send(req, 'lifecycle', { resolved })
  }
  const login = async (userAgent: string) => {
    const res = await send('POST /token (password)', 'POST', '/token', { contentType: 'application/x-www-form-urlencoded', payload: form({ username, password }), headers: { 'user-agent': userAgent } })
    expect(res.statusCode === (exists ? 200 : 401), `login answers ${exists ? 200 : 401}`, res)
    if (res.statusCode === 200) {
      const pair = res.json()
      current = { access: pair.access_token, refresh: pair.refresh_token, spent: [], sid: sidOf(pair.access_token), live: true }
      sessions.push(current)
    }
  }
  const endAll = (except?: Session) => { for (const s of sessions) if (s !== except) s.live = false }

  const registration = toJsonText({ obj: [['username', username], ['password', password], ...(scenario.email === undefined ? [] : [['email', scenario.email] as [string, Json]]), ...(scenario.fullName === undefined ? [] : [['full_name', scenario.fullName] as [string, Json]])] })
  const registered = await send('POST /users/', 'POST', '/users/', { contentType: 'application/json', payload: registration, headers: scenario.headers })
  expect(registered.statusCode === 201, 'registration answers 201', registered)
  if (registered.statusCode !== 201) return
  await login('lifecycle')

  for (const op of scenario.ops) {
    switch (op.op) {
      case 'login': await login(op.userAgent); break
      case 'wrong-login': {
        if (op.password === password) break
        const res = await send('POST /token (password)', 'POST', '/token', { contentType: 'application/x-www-form-urlencoded', payload: form({ username, password: op.password }) })
        expect(res.statusCode === 401 || (res.statusCode === 400 && op.password === ''), 'a wrong password answers 401', res)
        break
      }
      case 'refresh': case 'reuse': {
        if (current === undefined) break
        const token = op.op === 'refresh' ? current.refresh : current.spent[0]
        if (token === undefined) break
        const res = await send('POST /token (refresh_token)', 'POST', '/token', { contentType: 'application/x-www-form-urlencoded', payload: form({ grant_type: 'refresh_token', refresh_token: token }) })
        if (op.op === 'refresh') expect(res.statusCode === (current.live && exists ? 200 : 400), `a refresh of a ${current.live ? 'live' : 'ended'} session`, res)
        if (res.statusCode === 200) {
          const pair = res.json()
          if (op.op === 'refresh') current.spent.push(current.refresh)
          Object.assign(current, { access: pair.access_token, refresh: pair.refresh_token })
        } else if (op.op === 'reuse' && res.statusCode === 400) {
          current.live = false
        }
        break
      }
      case 'me': {
        if (current === undefined) break
        const res = await send('GET /users/me/', 'GET', '/users/me/', { headers: bearer(), inert: true })
        expect(res.statusCode === (current.live && exists ? 200 : 401), `GET /users/me/ in a ${current.live ? 'live' : 'ended'} session`, res)
        if (res.statusCode === 200) expect(res.json().username === username, 'GET /users/me/ names the user', res)
        break
      }
      case 'patch': await asLifecycle(op.request); break
      case 'create-item': {
        const res = await asLifecycle(op.request)
        if (res.statusCode === 201) items.push(res.json().item_id)
        break
      }
      case 'list-items': {
        const res = await asLifecycle(op.request)
        if (res.statusCode === 200) expect(res.json().every((item: { owner: string }) => item.owner === username), 'only the user\'s own items are listed', res)
        break
      }
      case 'item': {
        const id = op.known && items.length > 0 ? (items[op.pick % items.length] as number) : fuzzer.items.jane?.[op.pick % 4] ?? 1
        const res = await send(op.method === 'GET' ? 'GET /users/me/items/:item_id' : 'DELETE /users/me/items/:item_id', op.method, `/users/me/items/${id}`, { headers: bearer(), ...(op.method === 'GET' ? { inert: true as const } : {}) })
        const mine = items.includes(id)
        if (current?.live === true && exists) expect(res.statusCode === (mine ? (op.method === 'GET' ? 200 : 204) : 404), `${op.method} of ${mine ? 'an own' : "another user's"} item`, res)
        if (res.statusCode === 204) items.splice(items.indexOf(id), 1)
        break
      }
      case 'sessions': {
        const res = await send('GET /users/me/sessions', 'GET', '/users/me/sessions', { headers: bearer(), inert: true })
        if (res.statusCode === 200) {
          const listed = new Set(res.json().map((s: { id: string }) => s.id))
          const live = sessions.filter((s) => s.live).map((s) => s.sid)
          expect(listed.size === live.length && live.every((sid) => listed.has(sid)), 'the sessions listed are the live ones', res)
        }
        break
      }
      case 'end-session': {
        if (current === undefined) break
        const others = sessions.filter((s) => s !== current)
        const target = op.which === 'current' ? current : op.which === 'other' ? others[op.pick % Math.max(1, others.length)] : undefined
        const sid = target?.sid ?? randomBytes(16).toString('base64url')
        const res = await send('DELETE /users/me/sessions/:session_id', 'DELETE', `/users/me/sessions/${sid}`, { headers: bearer() })
        if (current.live && exists) expect(res.statusCode === (target?.live === true ? 204 : 404), 'ending a session answers 204 when it is live, else 404', res)
        if (res.statusCode === 204 && target !== undefined) target.live = false
        break
      }
      case 'logout': {
        if (current === undefined) break
        const res = await send('POST /logout', 'POST', `/logout${op.scope === '' ? '' : `?scope=${encode(op.scope)}`}`, { headers: bearer() })
        if (res.statusCode === 204) {
          const scope = op.scope === '' ? 'local' : op.scope
          if (scope === 'local') current.live = false
          else endAll(scope === 'others' ? current : undefined)
        }
        break
      }
      case 'revoke': {
        if (current === undefined) break
        const token = op.which === 'access' ? current.access : op.which === 'refresh' ? current.refresh : current.spent[0]
        if (token === undefined) break
        const fields: Record<string, string> = { token, ...(op.hint === undefined ? {} : { token_type_hint: op.hint }) }
        const res = await send('POST /revoke', 'POST', '/revoke', { contentType: 'application/x-www-form-urlencoded', payload: form(fields) })
        expect(res.statusCode === 200, 'a revocation answers 200', res)
        if (res.statusCode === 200) current.live = false
        break
      }
      case 'password': {
        if (current === undefined) break
        const next = op.kind === 'invalid' ? 'short' : op.next === password ? `${op.next}!` : op.next
        const body = { current_password: op.kind === 'wrong' ? `${password}?` : password, new_password: next }
        const res = await send('POST /users/me/password', 'POST', '/users/me/password', { headers: bearer(), contentType: 'application/json', payload: JSON.stringify(body) })
        if (current.live && exists) expect(res.statusCode === (op.kind === 'right' ? 204 : op.kind === 'wrong' ? 400 : 422), `a ${op.kind} password change`, res)
        if (res.statusCode === 204) {
          password = next
          endAll(current)
        }
        break
      }
      case 'delete': {
        if (current === undefined) break
        const res = await send('DELETE /users/me/', 'DELETE', '/users/me/', { headers: bearer(), contentType: 'application/json', payload: JSON.stringify({ password: op.right ? password : `${password}?` }) })
        if (current.live && exists) expect(res.statusCode === (op.right ? 204 : 400), `a deletion with the ${op.right ? 'right' : 'wrong'} password`, res)
        if (res.statusCode === 204) {
          exists = false
          endAll()
        }
        break
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

t.test('fuzzing every route', async (t) => {
  const started = performance.now()
  const cpuStart = process.cpuUsage()
  const app = await buildFuzzApp(t)
  const fuzzer = new Fuzzer(app)
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort()
  await setUp(fuzzer)
  t.comment(`seed ${SEED} (FUZZ_SEED=${SEED} replays this run)`)

  const parameters = (phase: keyof typeof RUNS) => ({ seed: SEED, numRuns: RUNS[phase] })
  const report = <T> (phase: string, details: fc.RunDetails<T>, ms: number) => {
    t.comment(`${phase}: ${details.numRuns} runs in ${Math.round(ms)} ms`)
    if (details.failed) t.fail(`${phase}: ${fc.defaultReportMessage(details) ?? 'failed'}`)
  }

  // Phase 1: every request refused; the tables as they were, after the whole phase.
  fuzzer.noFreshLogins = true
  const beforeRefused = await fuzzer.snapshot()
  let phaseStart = performance.now()
  const refused = await fc.check(fc.asyncProperty(refusedRequest(), async (req) => { await fuzzer.send(req, 'refused') }), parameters('refused'))
  report('refused', refused, performance.now() - phaseStart)
  const afterRefused = await fuzzer.snapshot()
  if (!sameSnapshot(beforeRefused, afterRefused)) fuzzer.violate('the refused phase leaves every table as it was', describeDiff(beforeRefused, afterRefused) ?? '')
  fuzzer.noFreshLogins = false
  const refusedCount = fuzzer.generated

  // Phase 2: anything, valid requests included.
  phaseStart = performance.now()
  const mixed = await fc.check(fc.asyncProperty(anyRequest(), async (req) => { await fuzzer.send(req, 'mixed') }), parameters('mixed'))
  report('mixed', mixed, performance.now() - phaseStart)
  const mixedCount = fuzzer.generated - refusedCount

  // Phase 3: accounts from registration to deletion.
  phaseStart = performance.now()
  const lifecycle = await fc.check(fc.asyncProperty(scenarioArbitrary, async (scenario) => { await runScenario(fuzzer, scenario) }), parameters('lifecycle'))
  report('lifecycle', lifecycle, performance.now() - phaseStart)
  const lifecycleCount = fuzzer.generated - refusedCount - mixedCount

  if (Object.getOwnPropertyNames(Object.prototype).sort().join() !== prototypeKeys.join() || Object.keys({}).length > 0) {
    fuzzer.violate('no prototype pollution', Object.getOwnPropertyNames(Object.prototype).join())
  }

  // The process is alive and the service still answers, its standing sessions included.
  const health = await app.inject({ url: '/health' })
  t.equal(health.statusCode, 200, '/health answers after the run')
  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, '/health/ready answers after the run')
  for (const user of ['johndoe', 'jane'] as const) {
    const me = await app.inject({ url: '/users/me/', headers: { authorization: `Bearer ${fuzzer.standing[user].access}` } })
    t.equal(me.statusCode, 200, `${user}'s standing session still works: the authenticated paths were exercised`)
  }

  for (const property of PROPERTIES) {
    const found = fuzzer.violations.get(property)
    if (found === undefined) {
      t.pass(property)
    } else {
      t.fail(`${property}: ${found.count} violation(s); the smallest: ${found.example}`)
    }
  }

  const families = [...fuzzer.counts.entries()].sort(([a], [b]) => a.localeCompare(b))
  for (const [family, byStatus] of families) {
    const total = [...byStatus.values()].reduce((a, b) => a + b, 0)
    const statuses = [...byStatus.entries()].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`).join(' ')
    t.comment(`${family}: ${total} (${statuses})`)
  }
  t.comment(`requests generated: ${fuzzer.generated} (refused phase ${refusedCount}, mixed ${mixedCount}, lifecycle ${lifecycleCount}); sent to support them: ${fuzzer.support}`)
  const cpuAll = process.cpuUsage(cpuStart)
  const ms = (n: number) => `${Math.round(n)} ms`
  t.comment(`${ms(performance.now() - started)} in all, ${ms((cpuAll.user + cpuAll.system) / 1000)} of CPU; spent ${Object.entries(fuzzer.timing).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}`)
  t.ok(fuzzer.generated >= MIN_REQUESTS, `at least ${MIN_REQUESTS} generated requests were sent (${fuzzer.generated})`)
})
