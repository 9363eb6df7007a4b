// The package's entry: the plugin and everything a host may type against.
import tokenAuth from './token-auth.js'

export default tokenAuth
export { tokenAuth }
export type { AddressLimit, TokenAuth, TokenAuthAccounts, TokenAuthDocsOptions, TokenAuthMetricsOptions, TokenAuthOptions, TokenAuthSessions, TokenAuthSettings, TokenAuthThrottleOptions } from './token-auth.js'
export type { Guard, GuardReply, GuardRequest, TokenAuthTypes, TokenAuthUser } from './types.js'
export { emailVerified, UsernameTakenError } from './accounts/user-store.js'
export type { NewUser, ProfileChanges, UserPage, UserRecord, UserStore } from './accounts/user-store.js'
export { AccountRuleError } from './accounts/account-rules.js'
export type { AccountIssue } from './accounts/account-rules.js'
export type { AccountChange, AdminChanges, AdminUser, AuditActor, NewAccount } from './accounts/accounts.js'
export { hashNewPassword as hashPassword, PasswordRuleError } from './accounts/passwords.js'
export type { SessionRecord } from './sessions/session-store.js'
export type { Token } from './schemas/token.js'
export { authSchemaMap as schemas } from './schemas/index.js'
export type { MetricsRegistry, ThrottleRedisClient } from './types.js'
export { DEFAULT_METRICS_PREFIX } from '../plugins/auth-metrics.js'
export { authenticate, currentActiveUser, requireScopes, userOf } from '../plugins/guards.js'
export { BUILT_IN_SCOPES } from './scopes/scopes.js'
export { packageInfo, type PackageInfo } from './package-info.js'
export { default as tokenAuthDocs } from '../plugins/docs.js'
export type { DocsPluginOptions as TokenAuthDocsPluginOptions, TagObject } from '../plugins/docs.js'
export { ThrottledRequestLog } from '../plugins/request-log.js'
export { finiteNumbersOnly } from '../plugins/finite-numbers.js'
export { noContent, nullable, ref, TEXT_PATTERN } from './schemas/ref.js'
// The plugin's options as a TypeBox schema (types, ranges, defaults, descriptions), for a host
// that checks or documents its own configuration with the plugin's rules.
export { RESOURCE_SERVER_ID_PATTERN, TokenAuthOptionsSchema } from './options.js'
export { createMailQueue, DEFAULT_SERVICE_NAME, defaultMailTemplates, escapeHtml, linkWithToken, mailTemplates, recipientDomain } from './mail/index.js'
export type { MailAccountLink, MailContent, MailKind, MailLog, MailMessage, MailOptions, MailQueue, MailQueueOptions, MailTemplate, MailTemplateInput, MailTemplates, SendMail } from './mail/index.js'
// The rules for values a host reads from its environment before handing them to the plugin.
export { isLongEnoughSecret, MIN_SECRET_BYTES } from './tokens/jwt-secret.js'
export { parsePublicUrl } from './openapi/public-url.js'
export { newResourceServerSecret, resourceServerSecretHash } from './clients/resource-servers.js'
export { resealSigningKeys } from './tokens/key-ring.js'
export { resealSecrets, type Resealed } from './tokens/reseal.js'
export type { Rotation } from './tokens/key-ring.js'
export { KeyUnsealError, SIGNING_ALGORITHMS, type PublicJwk, type SigningAlgorithm } from './tokens/signing-keys.js'

// The database the plugin works in, and its migrations: for a host's deploy step, its own
// tables beside the plugin's, and its own checks.
export { assertDatabaseFileUnchanged, backupSqliteDatabase, BackupError, createDatabase, parseDatabaseUrl } from './db/database.js'
export type { DatabaseLocation, DatabaseOptions } from './db/database.js'
// A DATABASE_URL opened in an app: its faults logged, closed with the app.
export { openDatabase } from './db/open-database.js'
export { DatabaseUnavailableError, isUnavailable as isDatabaseUnavailable, unavailableReason as databaseUnavailableReason } from './db/errors.js'
export { withIdColumn } from './db/dialect.js'
export { applyMigrations } from './db/migrate.js'
export type { AppliedMigration, MigrationSet } from './db/migrate.js'
export { migrate } from './db/plugin-migrations.js'
export type { MigrateOptions } from './db/plugin-migrations.js'
export type { AuthDatabase, RefreshTokensTable, SessionsTable, UsersTable } from './db/types.js'

// The error table, and what a host needs to answer, throw, switch on and document its errors.
export { defineErrors, errors, NO_STORE, sendError } from './errors.js'
export type { ErrorAnswer, ErrorDetail, ErrorEntry, ErrorReply, ErrorSpec, ErrorTable, ErrorUse, OAuth2ErrorCode, TokenAuthError } from './errors.js'
export type { ValidationIssue } from './schemas/errors.js'
export * as errorResponses from './schemas/responses.js'
export { default as tokenAuthErrors } from '../plugins/errors.js'
export type { ErrorsPluginOptions } from '../plugins/errors.js'
