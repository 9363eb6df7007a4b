import type { FastifyServerOptions } from 'fastify'
import { pino, type DestinationStream, type LoggerOptions } from 'pino'

// Credentials never reach the logs, in the places a log line could carry them. No leading
// wildcards: with `*.x` paths pino's redaction clones every object of every line.
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.body.password',
  'req.body.client_secret',
  'req.body.refresh_token',
  'req.body.token',
  'req.body.current_password',
  'req.body.new_password',
  'headers.authorization',
  'body.password',
  'body.client_secret',
  'body.refresh_token',
  'body.token',
  'password',
  'client_secret',
  'access_token',
  'refresh_token',
  'secret'
]

/** pino options for the service's processes (Fastify's logger and the cluster primary alike). */
export function loggerOptions (level: string): LoggerOptions {
  return { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
}

/** Standard output, written synchronously: pino's asynchronous stream buffers without bound at saturation. */
export function logDestination (): DestinationStream {
  return pino.destination({ dest: 1, sync: true })
}

// A password or client secret in the query, which has no shape to recognise.
const CREDENTIAL_IN_QUERY = /[?&](password|client_secret|access_token|refresh_token|token)=/i

export const TOKEN_PLACEHOLDER = '[redacted]'

// 32 or more characters of a URL that are unreserved or percent-escaped: where a token can hide.
const TOKEN_CANDIDATE = /(?:[\w.~-]|%[0-9A-Fa-f]{2}){32,}/g
// A JWT: its header is base64url JSON, so `eyJ…`, then two more parts.
const JWT = /eyJ[\w-]{10,}\.[\w-]+\.[\w-]*/
// An opaque token (a refresh token is 43 base64url characters of 256 random bits).
const OPAQUE = /[\w-]{32,}/g

/** Whether a stretch of base64url mixes cases as random text does (a slug or a hex id does not). */
function looksRandom (text: string): boolean {
  return (text.match(/[A-Z]/g)?.length ?? 0) >= 2 && (text.match(/[a-z]/g)?.length ?? 0) >= 2
}

function holdsToken (candidate: string): boolean {
  const text = candidate.includes('%')
    ? candidate.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    : candidate
  return JWT.test(text) || (text.match(OPAQUE)?.some(looksRandom) ?? false)
}

/**
 * Text with every stretch shaped like one of the service's tokens (a JWT, or 32 or more random
 * base64url characters, percent-escaped or not) replaced by TOKEN_PLACEHOLDER, wherever it is:
 * a path segment, a query value under any name, part of a longer segment.
 */
export function redactTokens (text: string): string {
  if (text.length < 32) return text
  return text.replace(TOKEN_CANDIDATE, (candidate) => holdsToken(candidate) ? TOKEN_PLACEHOLDER : candidate)
}

/**
 * A URL for the log: every token-shaped stretch masked, and the query string dropped when it
 * names a password or secret.
 */
export function loggableUrl (url: string): string {
  const safe = redactTokens(url)
  const query = safe.indexOf('?')
  if (query === -1 || !CREDENTIAL_IN_QUERY.test(safe.slice(query))) return safe
  return `${safe.slice(0, query)}?${TOKEN_PLACEHOLDER}`
}

/** pino's error serializer, with tokens masked in the message and stack (which may quote a URL). */
function errorWithoutTokens (error: Error): ReturnType<typeof pino.stdSerializers.err> {
  const serialized = pino.stdSerializers.err(error)
  if (typeof serialized.message === 'string') serialized.message = redactTokens(serialized.message)
  if (typeof serialized.stack === 'string') serialized.stack = redactTokens(serialized.stack)
  return serialized
}

interface LoggedRequest {
  method: string
  url: string
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

/** Fastify's `logger` option for the service (and for the benchmark's ceiling app). */
export function fastifyLogger (level: string): FastifyServerOptions['logger'] {
  return {
    ...loggerOptions(level),
    stream: logDestination(),
    // A message may quote a URL (Fastify's own warnings do).
    hooks: {
      logMethod (args, method) {
        for (let i = 0; i < args.length; i++) {
          const arg: unknown = args[i]
          if (typeof arg === 'string') args[i] = redactTokens(arg)
        }
        method.apply(this, args)
      }
    },
    // Fastify's request fields, with the URL made safe; errors likewise.
    serializers: {
      err: errorWithoutTokens,
      req: (request: LoggedRequest) => ({
        method: request.method,
        url: loggableUrl(request.url),
        host: request.host,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort
      })
    }
  }
}
