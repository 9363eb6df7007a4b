import type { FastifyServerOptions } from 'fastify'

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

export function loggerOptions (level: string): FastifyServerOptions['logger'] {
  return { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }
}
