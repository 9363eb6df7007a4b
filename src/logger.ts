import type { LoggerOptions } from 'pino'

// Credentials never reach the logs, whichever object a log line carries them in.
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'password',
  '*.password',
  'client_secret',
  '*.client_secret',
  'access_token',
  '*.access_token',
  'secret',
  '*.secret'
]

/** pino options for the service's processes (Fastify's logger and the cluster primary alike). */
export function loggerOptions (level: string): LoggerOptions {
  return { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
}
