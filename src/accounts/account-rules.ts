import AjvCompiler from '@fastify/ajv-compiler'
import { Type, type TSchema } from '@sinclair/typebox'
import { errors } from '../errors.js'
import { UserCreate, UserUpdate } from '../schemas/user.js'

/** A field of an account that breaks a rule of POST /users/ (or PATCH /users/me/). */
export interface AccountIssue {
  field: 'username' | 'email' | 'fullName'
  /** The schema keyword broken: 'pattern', 'format', 'maxLength', 'type' … */
  rule: string
  /** For a length rule, the limit. */
  limit?: number
  /** Ajv's words, such as `must NOT have more than 254 characters`. */
  message: string
}

/** An account's fields break the rules the routes apply; `issues` names each. */
export class AccountRuleError extends Error {
  readonly code = errors.ACCOUNT_RULE.code
  constructor (readonly issues: AccountIssue[]) {
    super(errors.ACCOUNT_RULE.detail(issues.map((issue) => `${issue.field} ${issue.message}`).join('; ')))
    this.name = 'AccountRuleError'
  }
}

const FIELDS = { username: 'username', email: 'email', full_name: 'fullName' } as const

type Validate = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string, keyword: string, params: Record<string, unknown>, message?: string }> | null }

// The routes' own compiler (Ajv with Fastify's defaults and formats), so the rules are theirs exactly.
let validators: { account: Validate, profile: Validate } | undefined
function compiled () {
  if (validators !== undefined) return validators
  const compile = AjvCompiler()({}, { customOptions: { allErrors: true }, plugins: [] })
  const build = (schema: TSchema) => compile({ schema, httpPart: 'body' }) as unknown as Validate
  const { username, email, full_name: fullName } = UserCreate.properties
  validators = {
    account: build(Type.Object({ username, email, full_name: fullName })),
    profile: build(Type.Object({ email: UserUpdate.properties.email, full_name: UserUpdate.properties.full_name }))
  }
  return validators
}

function check (validate: Validate, data: Record<string, unknown>): void {
  if (validate(data)) return
  const issues = (validate.errors ?? []).map((error) => {
    const name = (error.instancePath.split('/')[1] ?? error.params.missingProperty ?? 'username') as keyof typeof FIELDS
    const limit = error.params.limit
    return {
      field: FIELDS[name] ?? 'username',
      rule: error.keyword,
      ...(typeof limit === 'number' && { limit }),
      message: error.message ?? error.keyword
    }
  })
  throw new AccountRuleError(issues)
}

/** Throws an AccountRuleError unless a new account's username, email and full name pass POST /users/'s rules. */
export function checkNewAccount (account: { username: string, email?: string | null, fullName?: string | null }): void {
  check(compiled().account, {
    username: account.username,
    ...(account.email !== undefined && { email: account.email }),
    ...(account.fullName !== undefined && { full_name: account.fullName })
  })
}

/** Throws an AccountRuleError unless profile changes pass PATCH /users/me/'s rules. */
export function checkProfile (changes: { email?: string | null, fullName?: string | null }): void {
  check(compiled().profile, {
    ...(changes.email !== undefined && { email: changes.email }),
    ...(changes.fullName !== undefined && { full_name: changes.fullName })
  })
}
