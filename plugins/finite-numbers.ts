import type { FastifyRequest } from 'fastify'
import { errors } from '../src/errors.js'
import type { ValidationIssue } from '../src/schemas/errors.js'

const PARTS = [['query', 'query'], ['params', 'path']] as const

/**
 * A preHandler refusing, with FastAPI's 422, a query or path number that is not finite. Ajv
 * coerces `1e400` (or `Infinity`) to Infinity without its finiteness check, and its minimum and
 * maximum pass over non-finite numbers: the schema alone lets them through.
 */
export async function finiteNumbersOnly (request: FastifyRequest): Promise<void> {
  const issues: ValidationIssue[] = []
  for (const [part, loc] of PARTS) {
    const values = request[part] as Record<string, unknown> | undefined
    for (const [key, value] of Object.entries(values ?? {})) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        issues.push({ loc: [loc, key], msg: 'Input should be a finite number', type: 'finite_number' })
      }
    }
  }
  if (issues.length > 0) throw errors.VALIDATION.create(issues)
}
