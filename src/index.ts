// The package's entry: the plugin and everything a host may type against.
import tokenAuth from './token-auth.js'

export default tokenAuth
export { tokenAuth }
export type { AddressLimit, TokenAuth, TokenAuthDocsOptions, TokenAuthMetricsOptions, TokenAuthOptions, TokenAuthSessions, TokenAuthSettings, TokenAuthThrottleOptions } from './token-auth.js'
export type { Guard, GuardReply, GuardRequest, RequestUser, TokenAuthTypes, TokenAuthUser } from './types.js'
export { UsernameTakenError } from './accounts/user-store.js'
export type { NewUser, ProfileChanges, UserRecord, UserStore } from './accounts/user-store.js'
export type { SessionRecord } from './sessions/session-store.js'
export type { Token } from './schemas/token.js'
export { authSchemaMap as schemas } from './schemas/index.js'
// The error table, and what a host needs to answer, throw, switch on and document its errors.
export { defineErrors, errors, NO_STORE, sendError } from './errors.js'
export type { ErrorAnswer, ErrorDetail, ErrorEntry, ErrorReply, ErrorSpec, ErrorTable, ErrorUse, OAuth2ErrorCode, TokenAuthError } from './errors.js'
export type { ValidationIssue } from './schemas/errors.js'
export * as errorResponses from './schemas/responses.js'
export { default as tokenAuthErrors } from '../plugins/errors.js'
export type { ErrorsPluginOptions } from '../plugins/errors.js'
