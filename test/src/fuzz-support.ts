import { createHmac } from 'node:crypto'
import fc from 'fast-check'

// The request generators of test/src/fuzz.test.ts. A generated request is a description, not
// bytes: what only the running service knows (a real token, a session id, an item id) is a
// `Ref` the test resolves when it sends the request, so generation stays pure and seeded.

/** The users the fuzz test creates before it starts. */
export const POOL = {
  /** Active; holds a long-lived session whose access token the generators use. */
  johndoe: { username: 'johndoe', password: 'secret-password' },
  /** Active; a second owner of items and sessions (another user's item or session is a 404). */
  jane: { username: 'jane', password: 'janes-password' },
  /** Disabled: guarded routes answer 400 Inactive user, logout still works. */
  alice: { username: 'alice', password: 'wonderland-42' },
  /** Active; the user whose sessions the session-ending routes end (fresh logins). */
  rover: { username: 'rover', password: 'rovers-password' },
  /** Disabled, with fresh logins too: a refresh of its session ends it (400 Inactive user). */
  frozen: { username: 'frozen', password: 'frozen-password' }
} as const
export type PoolName = keyof typeof POOL
/** The users whose standing session tokens stay live for the whole run. */
export type StandingUser = 'johndoe' | 'jane' | 'alice'
/** The users whose sessions the session-ending requests use (and end): logged in again when one has. */
export type FreshUser = 'rover' | 'frozen'

/** Something only the running service knows, filled in when the request is sent. */
export type Ref =
  /** The id of an item of the request's user (the one its token names; johndoe when none). */
  | { ref: 'own-item', pick: number }
  /** The id of an item of another user. */
  | { ref: 'other-item', pick: number }
  /** The standing session id of another user than the request's. */
  | { ref: 'other-sid' }
  /** The session id, access token or refresh token of the request's fresh login. */
  | { ref: 'fresh-sid' | 'fresh-access' | 'fresh-refresh' }
  /** A refresh token of a side session (spent or not, live or ended). */
  | { ref: 'fodder-refresh', pick: number }
  /** A standing access token with a byte changed: never valid. */
  | { ref: 'tampered-access' }
  /** A user's real password (only where using it cannot end a standing session). */
  | { ref: 'password-of', user: PoolName }

export type Text = string | Ref

/** How the request authenticates. */
export type Auth =
  | { kind: 'none' }
  /** A whole Authorization header value, never a usable token. */
  | { kind: 'raw', value: string }
  /** The standing session of a user, its token in some spelling of the Bearer scheme. */
  | { kind: 'standing', user: StandingUser, spelling: number }
  /** A session of the user of its own, for routes that end sessions (logged in for the request, or kept from one that left it alive). */
  | { kind: 'fresh', user: FreshUser }
  /** A standing token changed after signing. */
  | { kind: 'tampered', user: StandingUser, how: TamperKind }
  /** A token signed here, with the service's secret or not. */
  | { kind: 'forged', claims: ForgedClaims, signing: Signing }
  /** The token of a user deleted since (its session went with it). */
  | { kind: 'deleted-user' }

export type TamperKind = 'sub' | 'sid' | 'exp' | 'extra-claim' | 'signature' | 'alg-none' | 'alg-hs512' | 'truncated' | 'swapped' | 'case' | 'padding'
export type Signing = 'secret' | 'other-secret' | 'alg-none' | 'hs384' | 'hs512' | 'rs256-header'

/** Claims of a forged token, relative to the request time and a standing session. */
export interface ForgedClaims {
  /** `sub`: a standing user, another name, or a wrong type. */
  sub: { user: StandingUser } | { value: unknown } | { absent: true }
  /** `sid`: the user's standing session, another user's, a random one, or a wrong type. */
  sid: 'own' | 'other' | { value: unknown } | { absent: true }
  /** Seconds from now, or a raw value, or absent. */
  iat: { offset: number } | { value: unknown } | { absent: true }
  exp: { offset: number } | { value: unknown } | { absent: true }
  nbf?: { offset: number }
  iss: string | { absent: true }
  aud: string | { absent: true }
}

/** A raw claim value that could pass for a time now or later (seconds since the epoch). */
const mayBeATime = (value: unknown) => typeof value === 'number' && value > 1.5e9

/**
 * Whether the service may accept a forged token: generously (a few seconds either side of each
 * time limit), so the tokens the refused generators use are certain to be refused. Only a token
 * signed with the service's secret as HS256, naming a standing user and that user's session,
 * issued within the token lifetime (30 min) and not expired, for this issuer and audience.
 */
export const mayBeAccepted = (claims: ForgedClaims, signing: Signing): boolean =>
  signing === 'secret' &&
  'user' in claims.sub && claims.sid === 'own' &&
  ('offset' in claims.iat ? claims.iat.offset <= 10 && claims.iat.offset >= -1810 : 'value' in claims.iat && mayBeATime(claims.iat.value)) &&
  ('offset' in claims.exp ? claims.exp.offset >= -10 : 'value' in claims.exp && mayBeATime(claims.exp.value)) &&
  (claims.nbf === undefined || claims.nbf.offset <= 10) &&
  claims.iss === ISSUER && claims.aud === ISSUER

export const ISSUER = 'fastify-token-auth'

/** A JSON value written out by toJsonText: objects as entry lists (so keys may repeat or be `__proto__`), raw tokens as they are. */
export type Json = null | boolean | number | string | Json[] | { obj: Array<[string, Json]> } | { raw: string } | Ref

/** A form body: the fields (as the client means them) and how they are put on the wire. */
export interface FormBody {
  kind: 'form'
  fields: Array<[string, Text]>
  encoding: FormEncoding
  /** Stray separators and fragments around the fields. */
  junk: string
}
export type FormEncoding = 'standard' | 'raw' | 'percent-all' | 'plus' | 'latin1'
export type Body =
  | { kind: 'none' }
  | FormBody
  | { kind: 'json', value: Json }
  | { kind: 'text', text: string }
  | { kind: 'bytes', bytes: Uint8Array }

/** The route family a request is counted under. */
export type Family =
  | 'POST /token (password)' | 'POST /token (refresh_token)' | 'POST /token (other grant)'
  | 'POST /revoke' | 'POST /logout' | 'POST /users/'
  | 'GET /users/me/' | 'PATCH /users/me/' | 'DELETE /users/me/' | 'POST /users/me/password'
  | 'GET /users/me/sessions' | 'DELETE /users/me/sessions/:session_id'
  | 'GET /users/me/items/' | 'POST /users/me/items/' | 'GET /users/me/items/:item_id' | 'DELETE /users/me/items/:item_id'
  | 'GET /health' | 'GET /health/ready' | 'GET /docs' | 'GET /docs/*' | 'GET /redoc' | 'GET /openapi.json'
  | 'unknown path or method'

export interface FuzzRequest {
  family: Family
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'
  /** Path segments after the leading slash, joined with '/'. */
  path: Text[]
  /** The query string without '?', as sent ('' for none). */
  query: string
  auth: Auth
  /** Content type, when one is sent. */
  contentType?: string
  /** Other headers. */
  headers: Record<string, string>
  body: Body
  /** Changes no row whatever the answer (a read, or a revocation of a token that is not live). */
  inert?: true
}

/** `refused`: every request is one the service must refuse. `any`: anything, valid requests included. */
export type Mode = 'refused' | 'any'

// ---------------------------------------------------------------------------------------------
// Text

/** encodeURIComponent, with lone surrogates (which it refuses) as U+FFFD, as a client's UTF-8 encoder writes them. */
export const encode = (text: string) => encodeURIComponent(text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'))

/** A printable character of a header value as Node's parser accepts it (latin1, no controls). */
const headerChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xa0, max: 0xff }) },
  { weight: 1, arbitrary: fc.constant(0x09) }
).map((code) => String.fromCharCode(code))
export const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength })

const SPECIALS = ['\0', '%', '%00', '%zz', '%C3%28', '&', '=', '+', ';', '\\', '"', "'", '\n', '\r\n', '\u202e', '\ufeff',
  '\ud800', '😀', 'é', 'ß', 'İ', 'ﬃ', '..', '../', '%2e%2e%2f', '$2b$04$', '<script>', '$' + '{x}', '{{x}}', ' ', '\t']

// Units of our own rather than fast-check's 'binary' and 'grapheme': those build a reverse
// mapping of every code point on first use, seconds of CPU before the first request.
/** Any code point but a lone surrogate, the astral planes included. */
const codePoint = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xd7ff }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0x10ffff }) }
).map((code) => String.fromCodePoint(code))
/** Characters and clusters that differ between bytes, code units, code points and what a reader sees. */
const GRAPHEMES = ['é', 'é', 'ß', 'İ', 'ı', 'ﬃ', 'Å', 'Ω', '中', '日本', '한', 'ש', 'ع', '\u202e', '\u200b', '\u200d', '\ufeff', '\ufffd',
  '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '🏳️‍🌈', 'a\u0308\u0301', '각', '\u{1d54f}', '\u{10ffff}', '\u{e0041}', '∞', '№', '€', '¼']
export const unicodeUnit = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...GRAPHEMES) }, { weight: 2, arbitrary: codePoint }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 1 }) })

/** Any string: ASCII, any code point (lone surrogates included), NULs and characters with a meaning somewhere. */
export const anyText = (maxLength = 40): fc.Arbitrary<string> => fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength }) },
  { weight: 3, arbitrary: fc.string({ unit: codePoint, maxLength }) },
  { weight: 1, arbitrary: fc.string({ unit: unicodeUnit, maxLength }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(fc.constantFrom(...SPECIALS), fc.string({ maxLength: 4 })), { maxLength: 8 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.constant('') }
)

/** A long value: up to 200k characters (over the 1 MB body limit in a few encodings). */
export const hugeText = fc.tuple(fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1000, max: 20_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 120_000 }) }), fc.constantFrom('a', 'é', '😀', '\0', '%', '&', '%41', ' '))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)))

/**
 * ASCII text of a length in [min, max], built from a short random piece (generating thousands
 * of characters one by one is most of a request's cost otherwise).
 */
export const longAscii = (min: number, max: number, piece: fc.Arbitrary<string> = fc.string({ minLength: 1, maxLength: 12 })) =>
  fc.tuple(piece.filter((p) => p !== ''), fc.integer({ min, max })).map(([p, n]) => p.repeat(Math.ceil(n / p.length)).slice(0, n))

export const textValue = (maxLength = 40) => fc.oneof({ weight: 40, arbitrary: anyText(maxLength) }, { weight: 1, arbitrary: hugeText })

/** Strings that look like numbers, or almost. */
export const NUMBERISH = ['0', '1', '-1', '-0', '+1', '01', '1.0', '1.5', '1e3', '1e400', '-1e400', '1E2', '0x10', '0b1', '0o7',
  'Infinity', '-Infinity', 'NaN', 'null', 'undefined', 'true', 'false', '[]', '{}', '', ' 1', '1 ', '2147483647', '2147483648',
  '4294967296', '9007199254740991', '9007199254740993', '99999999999999999999999999', '1'.repeat(400), '١', '１', '²', '1_000',
  '__proto__', 'constructor', '..', '..%2f', '%2e%2e%2f', '%2F', '%00', '1%00', '%31', '1;', '1,2', 'abc']
export const numberish = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NUMBERISH) },
  { weight: 2, arbitrary: fc.integer({ min: -10, max: 3_000_000_000 }).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String) },
  { weight: 1, arbitrary: anyText(12) }
)

/**
 * What a client cannot send raw in a request line (controls, space, DEL) or what would end the
 * segment (`/?#`, and `\\`, a separator to URL parsers): always percent-encoded.
 */
const UNSENDABLE = /[^!-~\u0080-\uffff]|[/?#\\]/g

/** A path segment as sent: percent-encoded, or raw (non-ASCII, odd characters and broken escapes included). */
export const segment = (value: fc.Arbitrary<string>) => fc.tuple(value, fc.constantFrom('encoded', 'raw', 'raw'))
  .map(([v, how]) => how === 'encoded' ? encode(v) : v.replace(UNSENDABLE, encode))

/**
 * A segment a URL parser reads as `.` or `..` (app.inject resolves them as a browser would,
 * Node's server does not): such a path names another route, so the refused generators avoid them.
 */
export const isDotSegment = (sent: string) => /^(?:\.|%2e){1,2}$/i.test(sent)

/** A query string: given pairs (repeated, oddly encoded) and junk. */
export const queryString = (pairs: fc.Arbitrary<Array<[string, string]>>) => fc.tuple(pairs, fc.constantFrom('encoded', 'raw'), fc.constantFrom('', '', '&', '&&', '=', '&=&', '#frag', ';'))
  .map(([list, how, junk]) => list.map(([k, v]) => how === 'encoded'
    ? `${encode(k)}=${encode(v)}`
    : `${k}=${v}`.replace(/[^!-~\u0080-\uffff]|#/g, encode)).join('&') + junk)

/**
 * A long query value, at most about 4 KB as sent: the request line counts towards Node's 16 KB
 * limit on the head of a request, which no longer value could pass.
 */
const longQueryValue = fc.oneof(
  fc.tuple(fc.integer({ min: 500, max: 4000 }), fc.constantFrom('a', '%', '&', '+', '=')).map(([n, unit]) => unit.repeat(n)),
  fc.tuple(fc.integer({ min: 50, max: 300 }), fc.constantFrom('é', '😀', '%00', '\0')).map(([n, unit]) => unit.repeat(n))
)
const junkQueryPairs = fc.array(fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'a[b]', 'a.b', ''), anyText(8)),
  fc.oneof({ weight: 30, arbitrary: anyText(20) }, { weight: 1, arbitrary: longQueryValue })), { maxLength: 3 })

// ---------------------------------------------------------------------------------------------
// Headers and authentication

export const CONTENT_TYPES = {
  form: ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED',
    'application/x-www-form-urlencoded;charset=UTF-8', 'application/x-www-form-urlencoded; charset=latin1', 'application/x-www-form-urlencoded;;'],
  json: ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=utf-16', 'application/json;;'],
  other: ['text/plain', 'multipart/form-data; boundary=x', 'application/xml', 'application/vnd.api+json', 'application/octet-stream',
    '*/*', 'application/', ';', 'application/json, text/plain', 'application/x-www-form-urlencoded, application/json', 'x'.repeat(3000)]
}
const otherContentType = fc.oneof(fc.constantFrom(...CONTENT_TYPES.other), headerText(30))

/** Extra headers: usually none, sometimes odd or huge ones (the whole request stays under Node's 16 KB). */
export const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  {
    weight: 4,
    arbitrary: fc.dictionary(
      fc.oneof(fc.constantFrom('user-agent', 'accept', 'accept-encoding', 'accept-language', 'x-forwarded-for', 'x-real-ip',
        'forwarded', 'cookie', 'origin', 'referer', 'x-http-method-override', 'content-encoding', 'expect', 'if-none-match', 'range',
        '__proto__', 'constructor', 'x-fuzz'), fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)),
      fc.oneof({ weight: 9, arbitrary: headerText(60) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 5000 }).map((n) => 'x'.repeat(n)) }),
      { maxKeys: 3 }
    )
  }
)

const jwtSegment = fc.oneof(fc.base64String({ maxLength: 60 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')), anyText(10))

/** Authorization header values that are never a usable token. */
const garbageAuthorization = fc.oneof(
  headerText(80),
  fc.constantFrom('Bearer', 'Bearer ', 'Bearer  ', 'bearer', 'Basic am9objpkb2U=', 'Digest x', 'Token abc', 'Bearer null',
    'Bearer undefined', 'Bearer a b', 'Bearer\tx', 'Bearer ..', 'Bearer ...', 'Bearer e30.e30.', 'Bearer e30.e30.e30',
    'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJqb2huZG9lIn0.'),
  fc.tuple(fc.constantFrom('Bearer ', 'bearer ', 'BEARER ', 'Bearer   ', 'Basic '), headerText(60)).map(([s, v]) => s + v),
  fc.tuple(jwtSegment, jwtSegment, jwtSegment).map((parts) => `Bearer ${parts.join('.')}`),
  fc.integer({ min: 1000, max: 6000 }).map((n) => `Bearer ${'a'.repeat(n)}`)
)

const offset = (min: number, max: number) => fc.integer({ min, max }).map((n) => ({ offset: n }))
const oddValue = fc.oneof(fc.constantFrom(null, true, '', '0', [], {}, -1, 1e308, 'now'), fc.double(), fc.string({ maxLength: 8 }))

const forgedClaims: fc.Arbitrary<ForgedClaims> = fc.record({
  sub: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<StandingUser>('johndoe', 'jane', 'alice').map((user) => ({ user })) },
    { weight: 1, arbitrary: fc.oneof(anyText(10), oddValue).map((value) => ({ value })) },
    { weight: 1, arbitrary: fc.constant({ absent: true as const }) }),
  sid: fc.oneof({ weight: 6, arbitrary: fc.constant('own' as const) }, { weight: 1, arbitrary: fc.constant('other' as const) },
    { weight: 1, arbitrary: fc.oneof(fc.base64String({ maxLength: 22 }), anyText(10), oddValue).map((value) => ({ value })) },
    { weight: 1, arbitrary: fc.constant({ absent: true as const }) }),
  iat: fc.oneof({ weight: 6, arbitrary: offset(-1500, 0) }, { weight: 2, arbitrary: offset(-100_000, 100_000) },
    { weight: 1, arbitrary: oddValue.map((value) => ({ value })) }, { weight: 1, arbitrary: fc.constant({ absent: true as const }) }),
  exp: fc.oneof({ weight: 6, arbitrary: offset(60, 1800) }, { weight: 2, arbitrary: offset(-100_000, 10_000_000) },
    { weight: 1, arbitrary: oddValue.map((value) => ({ value })) }, { weight: 1, arbitrary: fc.constant({ absent: true as const }) }),
  nbf: offset(-1000, 1000),
  iss: fc.oneof({ weight: 6, arbitrary: fc.constant(ISSUER) }, { weight: 1, arbitrary: anyText(10) }, { weight: 1, arbitrary: fc.constant({ absent: true as const }) }),
  aud: fc.oneof({ weight: 6, arbitrary: fc.constant(ISSUER) }, { weight: 1, arbitrary: anyText(10) }, { weight: 1, arbitrary: fc.constant({ absent: true as const }) })
}, { requiredKeys: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud'] })
const signing = fc.constantFrom<Signing>('secret', 'secret', 'secret', 'other-secret', 'alg-none', 'hs384', 'hs512', 'rs256-header')

/** Authentication that never admits a request. */
export const badAuth: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 3, arbitrary: garbageAuthorization.map((value) => ({ kind: 'raw' as const, value })) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('tampered' as const),
      user: fc.constantFrom<StandingUser>('johndoe', 'jane', 'alice'),
      how: fc.constantFrom<TamperKind>('sub', 'sid', 'exp', 'extra-claim', 'signature', 'alg-none', 'alg-hs512', 'truncated', 'swapped', 'case', 'padding')
    })
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('forged' as const), claims: forgedClaims, signing })
      .filter((auth) => !mayBeAccepted(auth.claims, auth.signing))
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'deleted-user' as const }) }
)

const spelling = fc.nat(5)
export const standingAuth = (users: StandingUser[] = ['johndoe', 'jane']) =>
  fc.record({ kind: fc.constant('standing' as const), user: fc.constantFrom(...users), spelling })

/** Any authentication for a route that cannot end a session: the standing tokens mostly, forged valid ones, and bad ones. */
export const anyAuth = (users: StandingUser[] = ['johndoe', 'jane', 'alice']): fc.Arbitrary<Auth> => fc.oneof(
  { weight: 6, arbitrary: standingAuth(users) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('forged' as const), claims: forgedClaims, signing }) },
  { weight: 3, arbitrary: badAuth }
)

// ---------------------------------------------------------------------------------------------
// Bodies

/** Raw JSON number tokens JSON.stringify would never write. */
const RAW_NUMBERS = ['1e400', '-1e400', '-0', '1.0', '1E2', '123456789012345678901234567890', '0.1e-400', '5e-324']

/** Any JSON value (a little deep), with repeated and prototype-polluting keys. */
export const jsonValue: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -1, 1.5, ''),
    fc.double().map((n) => Number.isFinite(n) ? n : { raw: String(n) }),
    fc.constantFrom(...RAW_NUMBERS).map((raw) => ({ raw })),
    textValue(30),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'username', 'password', 'title', ''), anyText(8)), tie('value')), { maxLength: 4 })
      .map((entries) => ({ obj: entries }))
  )
})).value

/** JSON nested very deeply, written out directly. */
const deepJson = fc.tuple(fc.integer({ min: 100, max: 20_000 }), fc.constantFrom('array', 'object', 'proto'))
  .map(([depth, shape]): Json => ({
    raw: shape === 'array'
      ? '['.repeat(depth) + ']'.repeat(depth)
      : shape === 'object'
        ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
        : '{"__proto__":'.repeat(depth) + '{}' + '}'.repeat(depth)
  }))

/** Text that is not JSON, or not quite. */
const brokenJson = fc.oneof(
  fc.constantFrom('', '{', '}', '{"a":1,}', "{'a':1}", '{"a":NaN}', '{"a":Infinity}', '{"a":undefined}', '[1,]', '{"a":1}{"b":2}',
    '{"a":"\\ud800"}', '{"a":"\\x41"}', '// x\n{}', '{"a":01}', '\ufeff{}', 'null', 'true', '"string"', '42', '{"a":1} trailing', ' '),
  anyText(40)
)

export const jsonBodyText = (json: Json): string => toJsonText(json)

/** The JSON text of a value (refs must have been resolved). */
export function toJsonText (value: Json): string {
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`
  if (value !== null && typeof value === 'object') {
    if ('raw' in value) return value.raw
    if ('obj' in value) return `{${value.obj.map(([key, v]) => `${JSON.stringify(key)}:${toJsonText(v)}`).join(',')}}`
    throw new Error(`unresolved ${JSON.stringify(value)}`)
  }
  return JSON.stringify(value) ?? 'null'
}

export interface BodyChoice {
  contentType?: string
  body: Body
}

/**
 * A JSON request body: mostly the object given, as JSON; sometimes another content type, text
 * that is not JSON, deep nesting or any value. With `alwaysRefused` (the caller has made the
 * object invalid), only shapes every JSON route refuses are added: deep arrays or
 * `__proto__`, text that is no JSON object, no body at all.
 */
export function jsonRequestBody (object: fc.Arbitrary<Json>, { alwaysRefused = false } = {}): fc.Arbitrary<BodyChoice> {
  const json = fc.constantFrom(...CONTENT_TYPES.json)
  const asJson = (value: fc.Arbitrary<Json>) => value.map((v) => ({ kind: 'json' as const, value: v }))
  const refusedDeep = deepJson.filter((value) => !(value as { raw: string }).raw.startsWith('{"a"'))
  const refusedText = brokenJson.filter((text) => !isJsonObjectText(text))
  return fc.oneof(
    { weight: 12, arbitrary: fc.record({ contentType: json, body: asJson(object) }) },
    { weight: 1, arbitrary: fc.record({ contentType: json, body: asJson(alwaysRefused ? refusedDeep : fc.oneof(jsonValue, deepJson)) }) },
    { weight: 1, arbitrary: fc.record({ contentType: json, body: (alwaysRefused ? refusedText : brokenJson).map((text) => ({ kind: 'text' as const, text })) }) },
    { weight: 1, arbitrary: fc.record({ contentType: otherContentType, body: asJson(object) }) },
    { weight: 1, arbitrary: fc.record({ body: asJson(object) }) },
    ...(alwaysRefused ? [] : [{ weight: 1, arbitrary: fc.record({ contentType: json, body: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'bytes' as const, bytes })) }) }]),
    { weight: 1, arbitrary: fc.constant({ body: { kind: 'none' as const } }) }
  )
}

function isJsonObjectText (text: string): boolean {
  try {
    // Fastify's JSON parser skips a byte order mark.
    const value: unknown = JSON.parse(text.replace(/^\ufeff/, ''))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
  } catch {
    return false
  }
}

/** Fields of an object body, each entry optional; extra, repeated and prototype keys mixed in. */
export function objectOf (fields: Array<[string, fc.Arbitrary<Json>]>, { extras = true } = {}): fc.Arbitrary<Json> {
  const entry = fields.map(([key, value]) => fc.option(value.map((v): [string, Json] => [key, v]), { freq: 4, nil: undefined }))
  const extra = extras
    ? fc.array(fc.tuple(fc.oneof(fc.constantFrom('constructor', 'prototype', 'toString', 'is_admin', 'disabled', 'hashed_password', 'owner', 'id', 'item_id'), anyText(8)), jsonValue), { maxLength: 2 })
    : fc.constant([])
  return fc.tuple(fc.tuple(...entry), extra, fc.boolean()).map(([given, more, last]) => {
    const entries = given.filter((e): e is [string, Json] => e !== undefined)
    return { obj: last ? [...more, ...entries] : [...entries, ...more] }
  })
}

/** An object body with every given field present (for the refused generators, which then break one). */
export function objectWith (fields: Array<[string, fc.Arbitrary<Json>]>): fc.Arbitrary<Array<[string, Json]>> {
  return fc.tuple(...fields.map(([key, value]) => value.map((v): [string, Json] => [key, v])))
}

/** A value no schema field of type string accepts, even with Ajv's coercions: an object, or a list of two. */
export const notAString: fc.Arbitrary<Json> = fc.oneof(
  fc.constant<Json>({ obj: [] }),
  fc.tuple(jsonValue, jsonValue).map(([a, b]): Json => [a, b]),
  fc.constant<Json>({ obj: [['a', 1]] })
)

/** A form body with the given fields; repeated fields, junk fields and odd encodings mixed in. */
export function formBody (fields: fc.Arbitrary<Array<[string, Text]>>, { repeats = true } = {}): fc.Arbitrary<FormBody> {
  const junkField = fc.tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'scope', 'client_id', 'client_secret', 'a[b]', '', 'x'), anyText(8)), textValue(20))
  return fc.record({
    kind: fc.constant('form' as const),
    fields: fc.tuple(fields, fc.array(junkField, { maxLength: repeats ? 2 : 0 }), fc.boolean()).map(([given, junk, first]) => first ? [...junk, ...given] : [...given, ...junk]),
    encoding: fc.constantFrom<FormEncoding>('standard', 'standard', 'standard', 'raw', 'percent-all', 'plus', 'latin1'),
    junk: fc.constantFrom('', '', '', '&', '&&', '=', '&=', '%', '&%zz=1', ';a=b')
  })
}

/** The bytes of a form body (refs resolved). */
export function encodeForm (fields: Array<[string, string]>, encoding: FormEncoding, junk: string): string | Buffer {
  const percentAll = (s: string) => Buffer.from(s, 'utf8').toString('hex').replace(/../g, '%$&')
  let text: string
  switch (encoding) {
    case 'standard': text = new URLSearchParams(fields).toString(); break
    case 'raw': case 'latin1': text = fields.map(([k, v]) => `${k}=${v}`).join('&'); break
    case 'percent-all': text = fields.map(([k, v]) => `${percentAll(k)}=${percentAll(v)}`).join('&'); break
    case 'plus': text = fields.map(([k, v]) => `${encode(k)}=${encode(v).replace(/%20/g, '+')}`).join('&'); break
  }
  text += junk
  return encoding === 'latin1' ? Buffer.from(text, 'latin1') : text
}

// ---------------------------------------------------------------------------------------------
// JWTs

const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64url')

/** A JWT of the given header and claims, signed with HMAC (or not at all). */
export function signJwt (header: Record<string, unknown>, claims: Record<string, unknown>, secret: string | undefined, hash = 'sha256'): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`
  return secret === undefined ? `${input}.` : `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

/** A real token changed after signing: the service must refuse every one. */
export function tamper (token: string, how: TamperKind): string {
  const [header = '', payload = '', signature = ''] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
  const withClaims = (changes: Record<string, unknown>) => `${header}.${b64(JSON.stringify({ ...claims, ...changes }))}.${signature}`
  switch (how) {
    case 'sub': return withClaims({ sub: claims.sub === 'jane' ? 'johndoe' : 'jane' })
    case 'sid': return withClaims({ sid: `${String(claims.sid)}x` })
    case 'exp': return withClaims({ exp: Number(claims.exp) + 86_400 })
    case 'extra-claim': return withClaims({ admin: true })
    case 'signature': return `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
    case 'alg-none': return `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`
    case 'alg-hs512': return `${b64(JSON.stringify({ alg: 'HS512', typ: 'JWT' }))}.${payload}.${signature}`
    case 'truncated': return token.slice(0, -3)
    case 'swapped': return `${payload}.${header}.${signature}`
    case 'case': return token.toUpperCase()
    case 'padding': return `${token}==`
  }
}

// ---------------------------------------------------------------------------------------------
// The generators, one per route family

/** A password that is none of the pool's (for a real user, a wrong one). */
const wrongPassword: fc.Arbitrary<string> = fc.oneof(
  textValue(80),
  fc.constantFrom(...Object.values(POOL).map((u) => u.password)).chain((p) => fc.constantFrom(p.toUpperCase(), `${p} `, ` ${p}`, `${p}\0`, p.slice(1), `${p}x`, p.normalize('NFD') === p ? `${p}é` : p.normalize('NFD')))
).filter((p) => !Object.values(POOL).some((u) => u.password === p))

const anyUsername = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...Object.keys(POOL)) },
  { weight: 2, arbitrary: fc.constantFrom('JohnDoe', 'JOHNDOE', 'johndoe ', ' johndoe', 'johndoe\0', 'john%64oe', 'jöhndoe', 'johndoe\u200b', 'ghost') },
  { weight: 3, arbitrary: textValue(70) }
)

const grantDefault = fc.constantFrom<Array<[string, Text]>>([], [['grant_type', 'password']], [['grant_type', '']])

/** POST /token, password grant. Refused mode: never the user's password. */
export function tokenPasswordRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const credentials: fc.Arbitrary<Array<[string, Text]>> = mode === 'any'
    ? fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom<PoolName>('johndoe', 'jane', 'alice', 'rover', 'frozen').map((user): Array<[string, Text]> => [['username', POOL[user].username], ['password', { ref: 'password-of', user }]]) },
      { weight: 3, arbitrary: fc.tuple(fc.option(anyUsername), fc.option(textValue(80))).map(([u, p]) => [...(u === null ? [] : [['username', u]]), ...(p === null ? [] : [['password', p]])] as Array<[string, Text]>) }
    )
    : fc.tuple(fc.option(anyUsername, { freq: 8 }), fc.option(wrongPassword, { freq: 8 }))
      .map(([u, p]) => [...(u === null ? [] : [['username', u]]), ...(p === null ? [] : [['password', p]])] as Array<[string, Text]>)
  const fields = fc.tuple(grantDefault, credentials, fc.array(fc.tuple(fc.constantFrom('scope', 'client_id', 'client_secret'), textValue(20)), { maxLength: 2 }))
    .map(([grant, creds, more]) => [...grant, ...creds, ...more])
  return tokenRequest('POST /token (password)', formBody(fields), mode)
}

/** POST /token, refresh grant. Refused mode: never a real refresh token. */
export function tokenRefreshRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const randomToken = fc.oneof(textValue(60), fc.base64String({ minLength: 40, maxLength: 48 }), fc.constantFrom('null', 'undefined', '0'))
  const token: fc.Arbitrary<Text> = mode === 'any'
    ? fc.oneof({ weight: 3, arbitrary: fc.nat().map((pick): Text => ({ ref: 'fodder-refresh', pick })) }, { weight: 1, arbitrary: fc.constant<Text>({ ref: 'fresh-refresh' }) }, { weight: 2, arbitrary: randomToken })
    : randomToken
  const fields = fc.tuple(fc.option(token, { freq: 8 }), fc.array(fc.tuple(fc.constantFrom('scope', 'client_id', 'username', 'password'), textValue(20)), { maxLength: 2 }))
    .map(([t, more]): Array<[string, Text]> => [['grant_type', 'refresh_token'], ...(t === null ? [] : [['refresh_token', t] as [string, Text]]), ...more])
  // A fresh login gives a refresh token of its own: the auth is only how it is obtained, the
  // Authorization header it puts on the request is ignored by /token.
  return tokenRequest('POST /token (refresh_token)', formBody(fields), mode)
}

const JUNK_GRANTS = ['PASSWORD', 'Password', 'password ', ' password', 'refresh_token ', 'REFRESH_TOKEN', 'refresh-token', 'client_credentials',
  'authorization_code', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:device_code', 'password\0', 'null', '*']

/** POST /token with any other grant_type (a repeated one included): always refused. */
export function tokenOtherGrantRequest (): fc.Arbitrary<FuzzRequest> {
  const grant = fc.oneof(fc.constantFrom(...JUNK_GRANTS), textValue(30)).filter((g) => g !== '' && g !== 'password' && g !== 'refresh_token')
  const fields = fc.tuple(fc.oneof({ weight: 5, arbitrary: grant.map((g): Array<[string, Text]> => [['grant_type', g]]) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('password', 'refresh_token'), textValue(10)).map(([a, b]): Array<[string, Text]> => [['grant_type', a], ['grant_type', b]]) }),
  fc.array(fc.tuple(fc.constantFrom('username', 'password', 'refresh_token', 'scope'), textValue(20)), { maxLength: 3 }))
    .map(([g, more]) => [...g, ...more])
  return tokenRequest('POST /token (other grant)', formBody(fields, { repeats: false }), 'refused')
}

function tokenRequest (family: Family, form: fc.Arbitrary<FormBody>, mode: Mode): fc.Arbitrary<FuzzRequest> {
  const body: fc.Arbitrary<BodyChoice> = fc.oneof(
    { weight: 10, arbitrary: fc.record({ contentType: fc.constantFrom(...CONTENT_TYPES.form), body: form }) },
    { weight: 1, arbitrary: fc.record({ contentType: fc.oneof(otherContentType, fc.constantFrom(...CONTENT_TYPES.json)), body: form }) },
    { weight: 1, arbitrary: fc.record({ contentType: fc.constantFrom(...CONTENT_TYPES.json), body: jsonValue.map((value) => ({ kind: 'json' as const, value })) }) },
    { weight: 1, arbitrary: fc.record({ body: form }) },
    { weight: 1, arbitrary: fc.record({ contentType: fc.constantFrom(...CONTENT_TYPES.form), body: fc.oneof(hugeText.map((text) => ({ kind: 'text' as const, text })), fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'bytes' as const, bytes }))) }) }
  )
  // /token ignores the Authorization header; it is sent sometimes all the same.
  const auth: fc.Arbitrary<Auth> = family === 'POST /token (refresh_token)' && mode === 'any'
    ? fc.oneof(fc.constant({ kind: 'none' as const }), fc.constantFrom<FreshUser>('rover', 'frozen').map((user) => ({ kind: 'fresh' as const, user })))
    : fc.oneof({ weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) }, { weight: 1, arbitrary: badAuth })
  return fc.record({ body, auth, headers: extraHeaders, slash: fc.boolean(), query: fc.option(queryString(junkQueryPairs), { freq: 6, nil: '' }) })
    .map(({ body, auth, headers, slash, query }) => ({ family, method: 'POST', path: [slash ? 'token/' : 'token'], query, auth, headers, ...body }))
}

/** POST /revoke. Refused mode: no token, or not a form. Otherwise unknown and tampered tokens (inert), and real ones. */
export function revokeRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const hint = fc.option(fc.tuple(fc.constant('token_type_hint'), fc.oneof(fc.constantFrom('access_token', 'refresh_token', 'id_token', ''), textValue(10))), { nil: undefined })
  const unknownToken = fc.oneof(textValue(60), fc.base64String({ minLength: 40, maxLength: 48 }), fc.constant<Text>({ ref: 'tampered-access' }))
  const realToken = fc.oneof(fc.constant<Text>({ ref: 'fresh-access' }), fc.constant<Text>({ ref: 'fresh-refresh' }), fc.nat().map((pick): Text => ({ ref: 'fodder-refresh', pick })))
  const formFields = (token: fc.Arbitrary<Text | null>) => fc.tuple(token, hint, fc.array(fc.tuple(fc.constantFrom('client_id', 'client_secret', 'token_type'), textValue(10)), { maxLength: 2 }))
    .map(([t, h, more]): Array<[string, Text]> => [...(t === null ? [] : [['token', t] as [string, Text]]), ...(h === undefined ? [] : [h]), ...more])
  const base = fc.record({ headers: extraHeaders, slash: fc.boolean(), query: fc.option(queryString(junkQueryPairs), { freq: 6, nil: '' }) })
  if (mode === 'refused') {
    // No token at all, an empty one, a repeated one, or a body that is not a form.
    const noToken = fc.oneof(formFields(fc.constant(null)), formFields(fc.constant('')),
      fc.tuple(textValue(20), textValue(20)).map(([a, b]): Array<[string, Text]> => [['token', a], ['token', b]]))
    const body = fc.oneof(
      { weight: 4, arbitrary: fc.record({ contentType: fc.constantFrom(...CONTENT_TYPES.form), body: formBody(noToken, { repeats: false }).filter((f) => f.encoding !== 'raw' && f.encoding !== 'latin1' && f.junk === '') }) },
      { weight: 2, arbitrary: fc.record({ contentType: fc.oneof(otherContentType, fc.constantFrom(...CONTENT_TYPES.json)), body: formBody(formFields(unknownToken)) }) },
      { weight: 1, arbitrary: fc.record({ body: formBody(formFields(unknownToken)) }) }
    )
    return fc.record({ base, body, auth: fc.oneof(fc.constant({ kind: 'none' as const }), badAuth) })
      .map(({ base, body, auth }) => ({ family: 'POST /revoke', method: 'POST', path: [base.slash ? 'revoke/' : 'revoke'], query: base.query, auth, headers: base.headers, ...body }))
  }
  return fc.record({ base, real: fc.boolean(), unknown: formBody(formFields(unknownToken)), known: formBody(formFields(realToken)), fresh: fc.constantFrom<FreshUser>('rover', 'frozen'), contentType: fc.constantFrom(...CONTENT_TYPES.form) })
    .map(({ base, real, unknown, known, fresh, contentType }): FuzzRequest => ({
      family: 'POST /revoke',
      method: 'POST',
      path: [base.slash ? 'revoke/' : 'revoke'],
      query: base.query,
      // The fresh login only supplies the tokens; /revoke reads no Authorization header.
      auth: real ? { kind: 'fresh', user: fresh } : { kind: 'none' },
      headers: base.headers,
      contentType,
      body: real ? known : unknown,
      ...(real ? {} : { inert: true as const })
    }))
}

const scopeValue = fc.oneof(fc.constantFrom('local', 'others', 'global'), fc.constantFrom('LOCAL', 'all', '', 'local ', 'loc%61l', 'others,global', 'none'), anyText(12))
const INVALID_SCOPES = ['LOCAL', 'all', 'none', 'Global', 'other', 'everything', '0', 'null']

/** POST /logout?scope=. Refused mode: a bad token, or a bad scope. Otherwise fresh sessions of rover and frozen only. */
export function logoutRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const anyQuery = fc.oneof(
    fc.constant(''),
    fc.array(scopeValue, { minLength: 1, maxLength: 2 }).chain((scopes) => queryString(fc.tuple(fc.constant(scopes), junkQueryPairs).map(([s, j]) => [...s.map((v): [string, string] => ['scope', v]), ...j])))
  )
  const badScope = fc.constantFrom(...INVALID_SCOPES).map((s) => `scope=${s}`)
  const choice = mode === 'refused'
    ? fc.oneof(
      fc.record({ auth: badAuth, query: anyQuery }),
      fc.record({ auth: standingAuth(['johndoe', 'jane', 'alice']) as fc.Arbitrary<Auth>, query: badScope })
    )
    : fc.record({ auth: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<FreshUser>('rover', 'frozen').map((user): Auth => ({ kind: 'fresh', user })) }, { weight: 1, arbitrary: badAuth }), query: anyQuery })
  return fc.record({ choice, headers: extraHeaders, slash: fc.boolean(), body: fc.option(jsonRequestBody(jsonValue), { freq: 4, nil: undefined }) })
    .map(({ choice, headers, slash, body }) => ({ family: 'POST /logout', method: 'POST', path: [slash ? 'logout/' : 'logout'], query: choice.query, auth: choice.auth, headers, ...(body ?? { body: { kind: 'none' } }) }))
}

// Registration: fields valid or not; the refused generator breaks one field for certain.
const validUsername = fc.stringMatching(/^[A-Za-z0-9._-]{3,40}$/)
const validPassword = fc.oneof(fc.string({ minLength: 8, maxLength: 40 }), fc.string({ unit: unicodeUnit, minLength: 8, maxLength: 18 }))
  .filter((p) => Buffer.byteLength(p) >= 8 && Buffer.byteLength(p) <= 72)
const validEmail = fc.emailAddress().filter((e) => e.length <= 254)
const validFullName = fc.oneof(fc.string({ unit: unicodeUnit, maxLength: 40 }), fc.string({ maxLength: 20 }), longAscii(21, 200)).filter((s) => !s.includes('\0'))
const TAKEN = ['johndoe', 'JohnDoe', 'JOHNDOE', 'jane', 'JANE', 'alice', 'Alice', 'rover', 'frozen', 'FROZEN']

type Defect = [string, fc.Arbitrary<Json>]
const usernameDefects: Defect[] = [
  ['username', fc.stringMatching(/^[A-Za-z0-9._-]{0,2}$/)],
  ['username', longAscii(65, 90, fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/))],
  ['username', fc.tuple(fc.stringMatching(/^[a-z]{2,10}$/), fc.constantFrom(' ', '@', '/', '\0', 'é', '😀', '+', '%', '\u200b', 'İ', '\n'), fc.stringMatching(/^[a-z]{1,10}$/)).map(([a, c, b]) => a + c + b)],
  ['username', fc.constantFrom(...TAKEN)],
  ['username', notAString]
]
const passwordDefects: Defect[] = [
  ['password', fc.string({ maxLength: 7 })],
  ['password', fc.oneof(longAscii(73, 200), fc.constantFrom('€'.repeat(25), 'é'.repeat(37), '😀'.repeat(19), `${'a'.repeat(71)}é`))],
  ['password', notAString]
]
const emailDefects: Defect[] = [
  ['email', fc.oneof(fc.stringMatching(/^[a-z0-9]{1,30}$/), fc.constantFrom('@', 'a@', '@b', 'a@@b', 'a b@c.d', `${'a'.repeat(250)}@b.cd`, 'a@b.c\0'))],
  ['email', notAString]
]
const fullNameDefects: Defect[] = [
  ['full_name', fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })).map(([a, b]) => `${a}\0${b}`)],
  ['full_name', longAscii(201, 400)],
  ['full_name', notAString]
]

/** An object with the fields given and one field replaced by (or, when `missing`, stripped of) a defect. */
function withDefect (valid: Array<[string, fc.Arbitrary<Json>]>, defects: Defect[], required: string[]): fc.Arbitrary<Json> {
  const defect = fc.oneof(
    ...defects.map(([key, value]) => value.map((v) => ({ key, value: v as Json | undefined }))),
    ...required.map((key) => fc.constant({ key, value: undefined as Json | undefined }))
  )
  return fc.tuple(objectWith(valid), defect, fc.array(fc.tuple(fc.constantFrom('constructor', 'prototype', 'is_admin', 'disabled', 'id'), jsonValue), { maxLength: 2 }))
    .map(([entries, { key, value }, extra]) => ({
      obj: [...entries.filter(([k]) => k !== key), ...(value === undefined ? [] : [[key, value] as [string, Json]]), ...extra]
    }))
}

/** POST /users/ with a JSON body. */
export function registerRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const fields: Array<[string, fc.Arbitrary<Json>]> = [['username', validUsername], ['password', validPassword], ['email', fc.option(validEmail)], ['full_name', fc.option(validFullName)]]
  const object = mode === 'refused'
    ? withDefect(fields, [...usernameDefects, ...passwordDefects, ...emailDefects, ...fullNameDefects], ['username', 'password'])
    : fc.oneof(objectOf(fields), withDefect(fields, [...usernameDefects, ...passwordDefects, ...emailDefects, ...fullNameDefects], ['username', 'password']),
      objectOf([['username', fc.oneof(validUsername, anyUsername)], ['password', fc.oneof(validPassword, textValue(80))], ['email', jsonValue], ['full_name', jsonValue]]))
  return fc.record({ body: jsonRequestBody(object, { alwaysRefused: mode === 'refused' }), auth: fc.oneof({ weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) }, { weight: 1, arbitrary: anyAuth() }), headers: extraHeaders, slash: fc.boolean() })
    .map(({ body, auth, headers, slash }) => ({ family: 'POST /users/', method: 'POST', path: slash ? ['users', ''] : ['users'], query: '', auth, headers, ...body }))
}

/**
 * A guarded route's request: refused mode pairs bad authentication with any input, or a
 * standing token with input refused by design; any mode mixes everything.
 */
function guarded (family: Family, method: FuzzRequest['method'], path: fc.Arbitrary<Text[]>, input: { good: fc.Arbitrary<Partial<FuzzRequest>>, bad: fc.Arbitrary<Partial<FuzzRequest>> | undefined, activeOnly: boolean }, mode: Mode): fc.Arbitrary<FuzzRequest> {
  const anyInput = input.bad === undefined ? input.good : fc.oneof(input.good, input.bad)
  const choice: fc.Arbitrary<{ auth: Auth, input: Partial<FuzzRequest> }> = mode === 'refused'
    ? fc.oneof(
      { weight: 3, arbitrary: fc.record({ auth: badAuth, input: anyInput }) },
      ...(input.activeOnly ? [{ weight: 1, arbitrary: fc.record({ auth: fc.constant<Auth>({ kind: 'standing', user: 'alice', spelling: 0 }), input: anyInput }) }] : []),
      ...(input.bad === undefined ? [] : [{ weight: 3, arbitrary: fc.record({ auth: standingAuth(['johndoe', 'jane']) as fc.Arbitrary<Auth>, input: input.bad }) }])
    )
    : fc.record({ auth: anyAuth(), input: anyInput })
  return fc.record({ choice, path, headers: extraHeaders, query: fc.option(queryString(junkQueryPairs), { freq: 5, nil: '' }) })
    .map(({ choice, path, headers, query }) => ({ family, method, path, query, headers, body: { kind: 'none' }, ...choice.input, auth: choice.auth }))
}

const slashVariants = (...parts: string[]) => fc.boolean().map((slash): Text[] => slash ? [...parts, ''] : parts)
const noInput = fc.constant({})

export function meGetRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  return guarded('GET /users/me/', 'GET', slashVariants('users', 'me'), { good: noInput, bad: undefined, activeOnly: true }, mode).map((r) => ({ ...r, inert: true as const }))
}

export function sessionsListRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  return guarded('GET /users/me/sessions', 'GET', slashVariants('users', 'me', 'sessions'), { good: noInput, bad: undefined, activeOnly: true }, mode).map((r) => ({ ...r, inert: true as const }))
}

export function mePatchRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const fields: Array<[string, fc.Arbitrary<Json>]> = [['email', fc.option(validEmail)], ['full_name', fc.option(validFullName)]]
  const good = jsonRequestBody(objectOf(fields))
  const bad = jsonRequestBody(withDefect(fields, [...emailDefects, ...fullNameDefects], []), { alwaysRefused: true })
  return guarded('PATCH /users/me/', 'PATCH', slashVariants('users', 'me'), { good, bad, activeOnly: true }, mode)
}

/** A wrong password for the request's user: any text but the pool's passwords. */
const wrongPasswordJson: fc.Arbitrary<Json> = wrongPassword.map((p) => p)

export function meDeleteRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  // Never the right password: deleting the standing users would end the run's sessions (the lifecycle test deletes its own).
  const bad = jsonRequestBody(withDefect([['password', wrongPasswordJson]], [['password', longAscii(1025, 1100)], ['password', notAString]], ['password']), { alwaysRefused: true })
  const good = jsonRequestBody(objectOf([['password', wrongPasswordJson]]))
  return guarded('DELETE /users/me/', 'DELETE', slashVariants('users', 'me'), { good, bad, activeOnly: true }, mode)
}

export function passwordChangeRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const fields: Array<[string, fc.Arbitrary<Json>]> = [['current_password', wrongPasswordJson], ['new_password', validPassword]]
  const bad = jsonRequestBody(withDefect(fields, [['current_password', notAString], ['current_password', longAscii(1025, 1100)], ...passwordDefects.map(([, v]): Defect => ['new_password', v])], ['current_password', 'new_password']), { alwaysRefused: true })
  const good = jsonRequestBody(objectOf(fields))
  return guarded('POST /users/me/password', 'POST', fc.constant(['users', 'me', 'password']), { good, bad, activeOnly: true }, mode)
}

/** A session id that is nobody's: random, too long, odd characters, broken escapes. */
const noSessionId = fc.oneof(
  fc.base64String({ minLength: 20, maxLength: 24 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')),
  longAscii(65, 300),
  anyText(30).filter((s) => s !== ''),
  fc.constantFrom(...NUMBERISH).filter((s) => s !== '')
)

export function sessionDeleteRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const idPath = (id: fc.Arbitrary<Text>) => fc.tuple(id, fc.boolean()).map(([sid, slash]): Text[] => ['users', 'me', 'sessions', sid, ...(slash ? [''] : [])])
  const unknown = idPath(fc.oneof({ weight: 4, arbitrary: segment(noSessionId).filter((sent) => !isDotSegment(sent)) }, { weight: 1, arbitrary: fc.constant<Text>({ ref: 'other-sid' }) }))
  if (mode === 'refused') {
    return guarded('DELETE /users/me/sessions/:session_id', 'DELETE', unknown, { good: noInput, bad: noInput, activeOnly: true }, 'refused')
  }
  // Ending one's own session with a fresh login; nobody's, or another user's, with the standing ones.
  return fc.oneof(
    fc.record({ path: idPath(fc.constant<Text>({ ref: 'fresh-sid' })), user: fc.constantFrom<FreshUser>('rover', 'frozen'), headers: extraHeaders })
      .map(({ path, user, headers }): FuzzRequest => ({ family: 'DELETE /users/me/sessions/:session_id', method: 'DELETE', path, query: '', auth: { kind: 'fresh', user }, headers, body: { kind: 'none' } })),
    guarded('DELETE /users/me/sessions/:session_id', 'DELETE', unknown, { good: noInput, bad: undefined, activeOnly: true }, 'any')
  )
}

const limitOffset = (valid: boolean) => valid
  ? fc.tuple(fc.option(fc.integer({ min: 1, max: 100 })), fc.option(fc.integer({ min: 0, max: 1_000_000 })))
    .map(([l, o]): Array<[string, string]> => [...(l === null ? [] : [['limit', String(l)] as [string, string]]), ...(o === null ? [] : [['offset', String(o)] as [string, string]])])
  : fc.array(fc.tuple(fc.constantFrom('limit', 'offset', 'Limit', 'limit[]'), numberish), { minLength: 1, maxLength: 3 })

const INVALID_LIMITS = ['0', '-1', '101', '1e400', 'Infinity', 'NaN', 'abc', '1.5', '99999999999999999999', '-Infinity', '[]', '']
const INVALID_OFFSETS = ['-1', '1000001', '1e400', 'Infinity', 'NaN', 'x', '0.5', '-0.5', '99999999999999999999']

export function itemsListRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const good = queryString(fc.tuple(limitOffset(true), junkQueryPairs).map(([a, b]) => [...a, ...b])).map((query) => ({ query }))
  const bad = fc.oneof(
    fc.tuple(fc.constantFrom('limit', 'offset'), fc.nat(20)).map(([key, i]) => ({ query: `${key}=${encode((key === 'limit' ? INVALID_LIMITS : INVALID_OFFSETS)[i % (key === 'limit' ? INVALID_LIMITS.length : INVALID_OFFSETS.length)] as string)}` })),
    fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 })).map(([a, b]) => ({ query: `limit=${a}&limit=${b}` }))
  )
  const anyQuery = queryString(limitOffset(false)).map((query) => ({ query }))
  return guarded('GET /users/me/items/', 'GET', slashVariants('users', 'me', 'items'), { good: fc.oneof(good, anyQuery), bad, activeOnly: true }, mode)
    .map((r) => ({ ...r, inert: true as const }))
}

export function itemCreateRequest (mode: Mode): fc.Arbitrary<FuzzRequest> {
  const title = fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), longAscii(21, 200), fc.string({ unit: unicodeUnit, minLength: 1, maxLength: 50 })).filter((s) => !s.includes('\0') && s.length <= 200)
  const description = fc.option(fc.oneof(fc.string({ maxLength: 30 }), longAscii(31, 3000), fc.string({ unit: codePoint, maxLength: 60 }).filter((s) => !s.includes('\0'))))
  const fields: Array<[string, fc.Arbitrary<Json>]> = [['title', title], ['description', description]]
  const defects: Defect[] = [
    ['title', fc.constantFrom('', null)],
    ['title', longAscii(201, 400)],
    ['title', fc.tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })).map(([a, b]) => `${a}\0${b}`)],
    ['title', notAString],
    ['description', longAscii(10_001, 10_100)],
    ['description', fc.constant('a\0b')],
    ['description', notAString]
  ]
  const good = jsonRequestBody(objectOf(fields))
  const bad = jsonRequestBody(withDefect(fields, defects, ['title']), { alwaysRefused: true })
  return guarded('POST /users/me/items/', 'POST', slashVariants('users', 'me', 'items'), { good, bad, activeOnly: true }, mode)
}

/**
 * Whether a path segment, as sent, may name an existing item: Ajv coerces the decoded text with
 * `+text` (so ` 1`, `1.0`, `0x1` and `1e3` are ids), and the run creates fewer than 10^7 items.
 */
export function mayNameAnItem (sent: string): boolean {
  let text: string
  try {
    text = decodeURIComponent(sent)
  } catch {
    return false
  }
  const n = Number(text)
  return text.trim() !== '' && Number.isInteger(n) && n >= 1 && n < 10_000_000
}

/** item_id values the service must refuse (422) or not find (404), as sent. */
const badItemId = fc.oneof(
  { weight: 4, arbitrary: segment(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...NUMBERISH) }, { weight: 1, arbitrary: anyText(20) })) },
  { weight: 1, arbitrary: fc.integer({ min: 10_000_000, max: 2_147_483_647 }).map(String) }
).filter((sent) => sent !== '' && !isDotSegment(sent) && !mayNameAnItem(sent))

function itemRequest (family: Family, method: 'GET' | 'DELETE', mode: Mode): fc.Arbitrary<FuzzRequest> {
  const idPath = (id: fc.Arbitrary<Text>) => fc.tuple(id, fc.boolean()).map(([itemId, slash]): Text[] => ['users', 'me', 'items', itemId, ...(slash ? [''] : [])])
  const refused = idPath(fc.oneof({ weight: 4, arbitrary: badItemId }, { weight: 1, arbitrary: fc.nat().map((pick): Text => ({ ref: 'other-item', pick })) }))
  const any = idPath(fc.oneof(
    { weight: 3, arbitrary: fc.nat().map((pick): Text => ({ ref: 'own-item', pick })) },
    { weight: 1, arbitrary: fc.nat().map((pick): Text => ({ ref: 'other-item', pick })) },
    { weight: 3, arbitrary: segment(numberish) }
  ))
  if (mode === 'refused') {
    return fc.oneof(
      guarded(family, method, fc.oneof(refused, any), { good: noInput, bad: undefined, activeOnly: true }, 'refused'),
      guarded(family, method, refused, { good: noInput, bad: noInput, activeOnly: true }, 'refused')
    ).map((r) => method === 'GET' ? { ...r, inert: true as const } : r)
  }
  return guarded(family, method, any, { good: noInput, bad: undefined, activeOnly: true }, 'any')
    .map((r) => method === 'GET' ? { ...r, inert: true as const } : r)
}
export const itemGetRequest = (mode: Mode) => itemRequest('GET /users/me/items/:item_id', 'GET', mode)
export const itemDeleteRequest = (mode: Mode) => itemRequest('DELETE /users/me/items/:item_id', 'DELETE', mode)

/** The probes and the documentation: open to all, read-only but for the readiness probe's own row. */
export function publicRequest (): fc.Arbitrary<FuzzRequest> {
  const staticFile = fc.oneof(fc.constantFrom('swagger-ui.css', 'swagger-ui-bundle.js', 'index.css', 'favicon-32x32.png', 'swagger-initializer.js', 'index.html',
    '..%2f..%2fpackage.json', '%2e%2e/%2e%2e/package.json', '....//....//etc/passwd', '%00', 'a%00.js', '.%2e/', 'nope.js', '~', '%c0%ae%c0%ae/'), segment(anyText(20)))
  const page = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom<[Family, Text[]]>(['GET /health', ['health']], ['GET /health', ['health', '']], ['GET /health/ready', ['health', 'ready']], ['GET /health/ready', ['health', 'ready', '']]) },
    { weight: 2, arbitrary: fc.constantFrom<[Family, Text[]]>(['GET /openapi.json', ['openapi.json']], ['GET /openapi.json', ['openapi.json']], ['GET /docs', ['docs']], ['GET /docs', ['docs', '']], ['GET /docs/*', ['docs', 'json']], ['GET /docs/*', ['docs', 'yaml']], ['GET /redoc', ['redoc']]) },
    { weight: 2, arbitrary: staticFile.map((file): [Family, Text[]] => ['GET /docs/*', ['docs', 'static', file]]) }
  )
  return fc.record({ page, method: fc.constantFrom<FuzzRequest['method']>('GET', 'GET', 'GET', 'HEAD'), auth: fc.oneof(fc.constant<Auth>({ kind: 'none' }), badAuth, standingAuth()), headers: extraHeaders, query: fc.option(queryString(junkQueryPairs), { freq: 3, nil: '' }) })
    // The readiness probe writes its probe row by design: a read everywhere else.
    .map(({ page: [family, path], method, auth, headers, query }): FuzzRequest => ({ family, method, path, query, auth, headers, body: { kind: 'none' }, ...(family === 'GET /health/ready' ? {} : { inert: true as const }) }))
}

/** Paths the service does not have, and methods its paths do not take: 404 for all. */
export function unknownRequest (): fc.Arbitrary<FuzzRequest> {
  const wrongMethod = fc.constantFrom<[FuzzRequest['method'], string[]]>(
    ['GET', ['token']], ['PUT', ['token']], ['DELETE', ['token']], ['GET', ['revoke']], ['GET', ['logout']], ['GET', ['users', '']],
    ['PUT', ['users', 'me', '']], ['POST', ['users', 'me', '']], ['GET', ['users', 'me', 'password']], ['POST', ['users', 'me', 'sessions']],
    ['PUT', ['users', 'me', 'items', '1']], ['PATCH', ['users', 'me', 'items', '']], ['POST', ['health']], ['DELETE', ['openapi.json']],
    ['OPTIONS', ['token']], ['OPTIONS', ['users', 'me', '']], ['GET', ['users', 'me', 'sessions', 'x', 'y']], ['GET', ['users', 'me', 'items', '1', 'x']]
  )
  const unknownPath = fc.array(segment(anyText(12)).filter((sent) => !isDotSegment(sent)), { minLength: 1, maxLength: 4 }).map((parts): [FuzzRequest['method'], string[]] => ['GET', ['nope', ...parts]])
  return fc.record({ target: fc.oneof(wrongMethod, unknownPath), auth: fc.oneof(fc.constant<Auth>({ kind: 'none' }), badAuth, standingAuth()), headers: extraHeaders, body: fc.option(jsonRequestBody(jsonValue), { freq: 3, nil: undefined }) })
    .map(({ target: [method, path], auth, headers, body }): FuzzRequest => ({
      family: 'unknown path or method',
      method,
      path,
      query: '',
      auth,
      headers,
      ...(method === 'GET' || method === 'OPTIONS' || body === undefined ? { body: { kind: 'none' as const } } : body),
      inert: true
    }))
}

/** Every request the service must refuse, over every route. */
export function refusedRequest (): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { weight: 6, arbitrary: tokenPasswordRequest('refused') },
    { weight: 3, arbitrary: tokenRefreshRequest('refused') },
    { weight: 2, arbitrary: tokenOtherGrantRequest() },
    { weight: 3, arbitrary: revokeRequest('refused') },
    { weight: 3, arbitrary: logoutRequest('refused') },
    { weight: 5, arbitrary: registerRequest('refused') },
    { weight: 3, arbitrary: meGetRequest('refused') },
    { weight: 4, arbitrary: mePatchRequest('refused') },
    { weight: 3, arbitrary: meDeleteRequest('refused') },
    { weight: 3, arbitrary: passwordChangeRequest('refused') },
    { weight: 3, arbitrary: sessionsListRequest('refused') },
    { weight: 3, arbitrary: sessionDeleteRequest('refused') },
    { weight: 4, arbitrary: itemsListRequest('refused').filter((r) => r.auth.kind !== 'standing' || /limit|offset/.test(r.query)) },
    { weight: 4, arbitrary: itemCreateRequest('refused') },
    { weight: 4, arbitrary: itemGetRequest('refused') },
    { weight: 3, arbitrary: itemDeleteRequest('refused') },
    { weight: 2, arbitrary: unknownRequest() }
  )
}

/** Anything, over every route, valid requests included. */
export function anyRequest (): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { weight: 5, arbitrary: tokenPasswordRequest('any') },
    { weight: 4, arbitrary: tokenRefreshRequest('any') },
    { weight: 1, arbitrary: tokenOtherGrantRequest() },
    { weight: 4, arbitrary: revokeRequest('any') },
    { weight: 3, arbitrary: logoutRequest('any') },
    { weight: 4, arbitrary: registerRequest('any') },
    { weight: 4, arbitrary: meGetRequest('any') },
    { weight: 4, arbitrary: mePatchRequest('any') },
    { weight: 2, arbitrary: meDeleteRequest('any') },
    { weight: 2, arbitrary: passwordChangeRequest('any') },
    { weight: 3, arbitrary: sessionsListRequest('any') },
    { weight: 3, arbitrary: sessionDeleteRequest('any') },
    { weight: 4, arbitrary: itemsListRequest('any') },
    { weight: 5, arbitrary: itemCreateRequest('any') },
    { weight: 4, arbitrary: itemGetRequest('any') },
    { weight: 3, arbitrary: itemDeleteRequest('any') },
    { weight: 4, arbitrary: publicRequest() },
    { weight: 2, arbitrary: unknownRequest() }
  )
}
