import { Type } from '@sinclair/typebox'

// The probes' answers. Inline (no $id): each is one route's alone.

export const Liveness = Type.Object({
  status: Type.Literal('ok', { examples: ['ok'] }),
  pid: Type.Integer({ description: 'The process (with WORKERS, the worker) that answered', examples: [4242] })
}, { description: 'The process runs', examples: [{ status: 'ok', pid: 4242 }] })

export const Readiness = Type.Object({
  status: Type.Literal('ready', { examples: ['ready'] })
}, { description: 'The database takes a write', examples: [{ status: 'ready' }] })
