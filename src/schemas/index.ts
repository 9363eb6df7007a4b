import type { TSchema } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { HTTPError, HTTPValidationError, OAuth2Error, ValidationIssue } from './errors.js'
import { Introspection, IntrospectForm } from './discovery.js'
import { AdminUser, AdminUserList, AdminUserUpdate, EndedSessions } from './admin.js'
import { Jwk, JwkSet } from './jwks.js'
import { Session, SessionList } from './session.js'
import { MfaRequired, RevokeForm, Token, TokenForm } from './token.js'
import { AccountDeletion, PasswordChange, User, UserCreate, UserUpdate } from './user.js'

export { ref } from './ref.js'

/**
 * The plugin's shared schemas by name, for a host's own route schemas: they are added to the
 * host when the plugin registers, so `{ $ref: schemas.HTTPError.$id }` resolves.
 */
export const authSchemaMap = {
  User,
  UserCreate,
  UserUpdate,
  PasswordChange,
  AccountDeletion,
  TokenForm,
  Token,
  MfaRequired,
  RevokeForm,
  IntrospectForm,
  Introspection,
  Session,
  SessionList,
  AdminUser,
  AdminUserList,
  AdminUserUpdate,
  EndedSessions,
  Jwk,
  JwkSet,
  HTTPError,
  ValidationIssue,
  HTTPValidationError,
  OAuth2Error
}

/** The plugin's shared schemas, all with `$id`s under `TokenAuth.`: a host's own never collide with them. */
export const authSchemas: TSchema[] = Object.values(authSchemaMap)

/**
 * Adds shared schemas to an instance. One already there is skipped only when it is this very
 * schema (a second instance of the plugin); another schema under the same `$id` is an error.
 */
export function addSchemas (app: FastifyInstance, schemas: TSchema[]): void {
  for (const schema of schemas) {
    if (schema.$id === undefined) continue
    const present = app.getSchema(schema.$id)
    if (present === schema) continue
    if (present !== undefined) throw new Error(`fastify-token-auth: another schema already has the $id ${schema.$id}`)
    app.addSchema(schema)
  }
}
