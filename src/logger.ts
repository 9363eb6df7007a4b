import type { FastifyServerOptions } from 'fastify'
import { pino, type DestinationStream, type LoggerOptions } from 'pino'

// Credentials never reach the logs, in the places a log line could carry them. No leading
// wildcards: with `*.x` paths pino's redaction clones every object of every line, which cost
// throughput and, under load, retained memory (the live heap grew by about 1 MB a second).
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

/**
 * Standard output, written synchronously. pino's default asynchronous stream buffers what the
 * output has not taken yet: at saturation with a line per request the live heap grew without
 * bound, while synchronous writes kept it flat and were faster.
 */
export function logDestination (): DestinationStream {
  return pino.destination({ dest: 1, sync: true })
}

const CREDENTIAL_IN_QUERY = /[?&](password|client_secret|access_token|refresh_token|token)=/i

// A path segment that looks like a token: a JWT (its header is base64url JSON, so `eyJ…`, then
// two more parts), or 32 or more base64url characters (a refresh token is 43). Session ids (22)
// and ordinary names (`file.tar.gz`) stay.
const TOKEN_SEGMENT = /(?<=\/)(?:eyJ[\w-]*\.[\w-]+\.[\w-]*|[\w-]{32,})(?=\/|\?|$)/g

/**
 * A URL for the log: the query string is dropped when it carries a credential, and a path
 * segment that looks like a token is masked (a client may put one in either).
 */
export function loggableUrl (url: string): string {
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  const safePath = path.replace(TOKEN_SEGMENT, '[redacted]')
  if (query === -1) return safePath
  return CREDENTIAL_IN_QUERY.test(url.slice(query)) ? `${safePath}?[redacted]` : `${safePath}${url.slice(query)}`
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
    // Fastify's request fields, with the URL made safe.
    serializers: {
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
