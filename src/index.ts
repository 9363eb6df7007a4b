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
export type { MetricsRegistry } from './types.js'
export { DEFAULT_METRICS_PREFIX } from '../plugins/auth-metrics.js'
export { default as tokenAuthDocs } from '../plugins/docs.js'
export type { DocsPluginOptions as TokenAuthDocsPluginOptions, TagObject } from '../plugins/docs.js'
export { ThrottledRequestLog } from '../plugins/request-log.js'
export { noContent, nullable, ref, TEXT_PATTERN } from './schemas/ref.js'
// The plugin's options as a TypeBox schema (types, ranges, defaults, descriptions), for a host
// that checks or documents its own configuration with the plugin's rules.
export { TokenAuthOptionsSchema } from './options.js'
// The rules for values a host reads from its environment before handing them to the plugin.
export { isLongEnoughSecret, MIN_SECRET_BYTES } from './tokens/jwt-secret.js'
export { parsePublicUrl } from './openapi/public-url.js'
export { parseDatabaseUrl, type DatabaseLocation } from './db/database-url.js'
