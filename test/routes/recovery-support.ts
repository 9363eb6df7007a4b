import type { FastifyInstance } from 'fastify'
import type { ParsedMail } from 'mailparser'
import type { Test } from 'tap'
import { createDatabase } from '../../src/db/database.js'
import type { Kysely } from 'kysely'
import type { AuthDatabase } from '../../src/db/types.js'
import { loadConfig } from '../../src/service/config.js'
import type { ServiceOptions } from '../../src/service/app.js'
import { serviceMail } from '../../src/service/mail/transport.js'
import type { Engine } from '../../src/db/dialect.js'
import { buildApp, freshDatabaseUrl } from '../helper.js'
import { startSmtpServer, until } from '../mail/support.js'

// A service that mails through a real SMTP server on loopback (smtp-server, parsed by
// mailparser): the tests read tokens from the mails as they arrived over SMTP.

export const RESET_URL = 'https://app.example.com/reset'
export const VERIFY_URL = 'https://app.example.com/verify'

const silent = { debug () {}, info () {}, warn () {} }

export interface MailedApp {
  app: FastifyInstance
  /** Every mail the SMTP server took, in order. */
  received: ParsedMail[]
  /** The database the app runs on, for what only the tables show. */
  db: Kysely<AuthDatabase>
  /** Resolves with the mails once `count` of them have arrived (all of them so far). */
  mails: (count: number) => Promise<ParsedMail[]>
}

/** The service with mail through a fresh SMTP server, on a fresh database of `engine`. */
export async function mailedApp (t: Test, engine: Engine, opts: Partial<ServiceOptions> = {}, settings: Record<string, string> = {}): Promise<MailedApp> {
  const smtp = await startSmtpServer(t)
  const mail = serviceMail(loadConfig({ SMTP_URL: smtp.url, MAIL_FROM: 'Accounts <no-reply@example.com>', RESET_URL, VERIFY_URL, ...settings }), silent)
  if (mail === undefined) throw new Error('no mail options')
  const database = await freshDatabaseUrl(t, engine, { shared: true })
  const app = await buildApp(t, { mail, ...opts, database }, engine)
  const db = createDatabase(database) as Kysely<AuthDatabase>
  t.teardown(async () => await db.destroy())
  return {
    app,
    received: smtp.received,
    db,
    async mails (count) {
      await until(() => smtp.received.length >= count, `${count} mail(s)`)
      return smtp.received
    }
  }
}

/** The token in a mail's link (its fragment), for the account named, or the only one. */
export function tokenIn (mail: ParsedMail | undefined, username?: string): string {
  const text = mail?.text ?? ''
  const links = [...text.matchAll(/(?:for (\S+) here:\n)?(https:\/\/app\.example\.com\/\S+)/g)]
  const link = username === undefined ? links[0] : links.find((match) => match[1] === username)
  if (link?.[2] === undefined) throw new Error(`no link${username === undefined ? '' : ` for ${username}`} in the mail: ${text}`)
  const token = new URLSearchParams(new URL(link[2]).hash.slice(1)).get('token')
  if (token === null) throw new Error('no token in the link')
  return token
}

/** The address a mail went to, in lower case. */
export function recipient (mail: ParsedMail | undefined): string | undefined {
  const to = Array.isArray(mail?.to) ? mail?.to[0] : mail?.to
  return to?.value[0]?.address?.toLowerCase()
}

/** Registers an account with an email and proves the address with the verification mail. */
export async function verifiedUser (t: Test, mailed: MailedApp, user: { username: string, password: string, email: string }): Promise<void> {
  const before = mailed.received.length
  const res = await mailed.app.inject({ method: 'POST', url: '/users/', payload: user })
  if (res.statusCode !== 201) throw new Error(`registration: ${res.statusCode} ${res.body}`)
  const mails = await mailed.mails(before + 1)
  const verify = await mailed.app.inject({ method: 'POST', url: '/email/verify', payload: { token: tokenIn(mails[before]) } })
  if (verify.statusCode !== 204) throw new Error(`verification: ${verify.statusCode} ${verify.body}`)
  t.comment(`${user.username} verified ${user.email}`)
}

/** Waits for the work a route does after its answer (mail, mostly) to settle, and a little more. */
export async function settled (): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300))
}
