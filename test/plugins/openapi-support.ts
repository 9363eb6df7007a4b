import Fastify, { type FastifyInstance } from 'fastify'
import tokenAuth, { type TokenAuthDocsOptions } from '../../src/index.js'
import type { ServiceOptions } from '../../src/service/app.js'
import { buildApp, testSecret, type TestContext } from '../helper.js'

// The OpenAPI documents a user of the project gets: the service's at /openapi.json, and the
// plugin's own (a host without @fastify/swagger) at <prefix>/openapi.json.

export type Json = Record<string, any>

/** A public URL for the documents: not example.com, which Redocly's recommended rules refuse as a server. */
export const PUBLIC_URL = 'https://auth.acme.test/api'

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

async function fetchDocument (app: FastifyInstance, url: string): Promise<Json> {
  const response = await app.inject({ method: 'GET', url })
  if (response.statusCode !== 200) throw new Error(`GET ${url}: ${response.statusCode} ${response.body}`)
  return response.json()
}

/** The standalone service's document (and the service, to send it requests). */
export async function serviceDocument (t: TestContext, opts: Partial<ServiceOptions> = {}): Promise<{ app: FastifyInstance, doc: Json }> {
  const app = await buildApp(t, opts)
  return { app, doc: await fetchDocument(app, '/openapi.json') }
}

/** Mail for a document's sake (nothing is sent): with it, the recovery operations are in the documents. */
export const DOCS_MAIL: NonNullable<ServiceOptions['mail']> = { send: async () => {}, resetUrl: 'https://app.example.com/reset', verifyUrl: 'https://app.example.com/verify' }

/** The plugin's own document, registered under `prefix` in a host of its own. */
export async function pluginDocument (t: TestContext, prefix: string, docs: true | (TokenAuthDocsOptions & { publicUrl?: string }) = true): Promise<Json> {
  const host = Fastify({ logger: false })
  t.teardown(async () => await host.close())
  const { publicUrl, ...pages } = docs === true ? {} : docs
  await host.register(tokenAuth, { prefix, secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4, throttle: false, docs: docs === true ? true : pages, ...(publicUrl !== undefined && { publicUrl }) })
  return await fetchDocument(host, `${prefix}/openapi.json`)
}

export interface Operation {
  path: string
  method: string
  /** `METHOD path`, for messages. */
  name: string
  operation: Json
}

/** Every operation of the document. */
export function operationsOf (doc: Json): Operation[] {
  return Object.entries<Json>(doc.paths ?? {}).flatMap(([path, item]) => HTTP_METHODS
    .filter((method) => item[method] !== undefined)
    .map((method) => ({ path, method, name: `${method.toUpperCase()} ${path}`, operation: item[method] as Json })))
}
