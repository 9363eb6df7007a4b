import type { TSchema } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { HTTPError, HTTPValidationError, OAuth2Error, ValidationIssue } from './errors.js'
import { Item, ItemCreate, ItemList } from './item.js'
import { Token, TokenForm } from './token.js'
import { User, UserCreate } from './user.js'

export { ref } from './ref.js'

export const authSchemas: TSchema[] = [User, UserCreate, TokenForm, Token, HTTPError, ValidationIssue, HTTPValidationError, OAuth2Error]
export const itemSchemas: TSchema[] = [Item, ItemList, ItemCreate]

/** Adds shared schemas to an instance, skipping any a host (or an earlier call) already added. */
export function addSchemas (app: FastifyInstance, schemas: TSchema[]): void {
  for (const schema of schemas) {
    if (schema.$id !== undefined && app.getSchema(schema.$id) === undefined) app.addSchema(schema)
  }
}
