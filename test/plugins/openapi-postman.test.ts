import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import postman from 'openapi-to-postmanv2'
import t from 'tap'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import service from '../../src/service/app.js'
import { testSecret } from '../helper.js'
import type { Json } from './openapi-support.js'

/*
 * The document as Postman imports it (openapi-to-postmanv2, the converter behind Postman's
 * OpenAPI import), then the collection's requests sent as generated, to the service at its
 * PUBLIC_URL on a loopback port.
 */

/** Converts as Postman's import does, with its options (`requestParametersResolution: 'Example'` fills requests with the examples). */
async function convert (doc: Json, options: Record<string, string> = {}): Promise<Json> {
  return await new Promise((resolve, reject) => {
    postman.convert({ type: 'json', data: doc }, options, (error, result) => {
      if (error !== null) reject(new Error(error.message))
      else if (result?.result !== true || result.output?.[0] === undefined) reject(new Error(`not converted: ${JSON.stringify(result)}`))
      else resolve(result.output[0].data as Json)
    })
  })
}

/** Every request of a collection, however deep its folders. */
function requestsOf (items: Json[]): Json[] {
  return items.flatMap((item) => Array.isArray(item.item) ? requestsOf(item.item) : [item.request])
}

const find = (requests: Json[], method: string, path: string[]) =>
  requests.find((request) => request.method === method && JSON.stringify(request.url.path) === JSON.stringify(path))

/** What Postman sends for a request: `{{variables}}` substituted, the enabled form fields, headers and raw body. */
async function send (request: Json, variables: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  const substitute = (text: string) => text.replace(/\{\{(\w+)\}\}/g, (_match, name: string) => variables[name] ?? `{{${name}}}`)
  const url = substitute(`${(request.url.host as string[]).join('.')}/${(request.url.path as string[]).join('/')}`)
  const body = request.body?.mode === 'urlencoded'
    ? new URLSearchParams((request.body.urlencoded as Json[]).filter((field) => field.disabled !== true).map((field) => [field.key, substitute(field.value)]))
    : request.body?.mode === 'raw' ? substitute(request.body.raw) : undefined
  const given = Object.fromEntries((request.header as Json[] ?? []).filter((header) => header.disabled !== true).map((header) => [header.key, header.value]))
  return await fetch(url, { method: request.method, headers: { ...given, ...headers }, body })
}

t.test('a Postman collection from the document logs in as generated', async (t) => {
  // The port is known before the service registers: its PUBLIC_URL names it.
  let server: Server | undefined
  const app = Fastify({ ...serviceFastifyOptions('silent'), serverFactory: (handler) => (server = createServer(handler)) })
  t.teardown(async () => {
    await app.close()
    await new Promise((resolve) => server?.close(resolve))
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const publicUrl = `http://127.0.0.1:${(server?.address() as AddressInfo).port}`
  await app.register(service, { secret: testSecret(), bcryptCost: 4, throttle: false, database: 'sqlite::memory:', publicUrl })
  await app.ready()
  const doc = await (await fetch(`${publicUrl}/openapi.json`)).json() as Json

  t.test('as imported with the defaults: absolute base and token URLs', async (t) => {
    const collection = await convert(doc)
    t.same(collection.variable, [{ type: 'string', value: publicUrl, key: 'baseUrl' }], 'baseUrl is the PUBLIC_URL')
    const requests = requestsOf(collection.item)
    const me = find(requests, 'GET', ['users', 'me', ''])
    t.ok(me, 'GET /users/me/ is in the collection')
    const oauth2 = Object.fromEntries((me?.auth?.oauth2 as Json[] ?? []).map((entry) => [entry.key, entry.value]))
    t.equal(me?.auth?.type, 'oauth2', 'it logs in with OAuth2')
    t.same(oauth2, { accessTokenUrl: `${publicUrl}/token`, grant_type: 'password_credentials', scope: 'me items admin' },
      'the password grant at the absolute token URL, asking for every scope the document lists')
    t.equal(find(requests, 'POST', ['token'])?.auth, null, 'the token request itself needs no auth')

    // An OAuth2 client (Postman's "Get New Access Token") posts the form to that URL.
    const registered = await fetch(`${publicUrl}/users/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'postman', password: 'postman-password' }) })
    t.equal(registered.status, 201)
    const token = await fetch(oauth2.accessTokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'postman', password: 'postman-password', scope: oauth2.scope }) })
    t.equal(token.status, 200, 'the accessTokenUrl answers a token')
    t.equal((await token.json() as { scope: string }).scope, 'me items', 'admin left out of the grant for a user who is not one, not refused')
  })

  t.test('as imported with examples: register, log in and read the user, each request as generated', async (t) => {
    const collection = await convert(doc, { requestParametersResolution: 'Example' })
    const variables = Object.fromEntries((collection.variable as Json[]).map((variable) => [variable.key, variable.value]))
    const requests = requestsOf(collection.item)
    const register = find(requests, 'POST', ['users', ''])
    const login = find(requests, 'POST', ['token'])
    const me = find(requests, 'GET', ['users', 'me', ''])
    t.ok(register !== undefined && login !== undefined && me !== undefined, 'the three requests are in the collection')
    if (register === undefined || login === undefined || me === undefined) return

    t.same(login.body.urlencoded.map((field: Json) => [field.key, field.value]), [['grant_type', 'password'], ['username', 'johndoe'], ['password', 'a-long-password']],
      'the login form holds the example credentials, nothing else')
    t.equal((await send(register, variables)).status, 201, 'the registration request registers johndoe')
    const answer = await send(login, variables)
    t.equal(answer.status, 200, 'the login request logs in')
    const { access_token: accessToken } = await answer.json() as { access_token: string }
    const user = await send(me, variables, { authorization: `Bearer ${accessToken}` })
    t.equal(user.status, 200, 'GET /users/me/ with the token')
    t.match(await user.json(), { username: 'johndoe' })
  })
})
