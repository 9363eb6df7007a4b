import t from 'tap'
import tokenAuth, { type MailMessage } from '../../src/index.js'
import { forEachEngine, freshDatabaseUrl } from '../helper.js'
import { bearer, memoryStore, newHost, pluginOptions, requestToken } from './support.js'

// Account recovery over a host's own user store: its sessions database holds the tokens, the
// store the verified addresses; a store that cannot keep them gets no recovery routes.

const mailTo = (sent: MailMessage[]) => ({ send: async (message: MailMessage) => { sent.push(message) }, resetUrl: 'https://host.example/reset', verifyUrl: 'https://host.example/verify' })
const tokenOf = (message: MailMessage | undefined) => new URLSearchParams(new URL(message?.url ?? 'https://x/').hash.slice(1)).get('token') ?? ''

async function until (check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
}

forEachEngine(t, async (t, engine) => {
  t.test('a store with the verified-address methods: verification and reset end to end', async (t) => {
    const sent: MailMessage[] = []
    const host = newHost(t)
    await host.register(tokenAuth, pluginOptions({ prefix: '/auth', store: memoryStore({ verified: true }), database: await freshDatabaseUrl(t, engine), mail: mailTo(sent), throttle: false }))
    await host.ready()
    t.equal((await host.inject({ method: 'POST', url: '/auth/users/', payload: { username: 'hoster', password: 'hoster-password-1', email: 'hoster@example.org' } })).statusCode, 201)
    await until(() => sent.length === 1)
    t.equal(sent[0]?.kind, 'email_verification', 'the registration was mailed a verification link')
    t.equal((await host.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: tokenOf(sent[0]) } })).statusCode, 204)
    t.equal((await host.tokenAuth.users.findByUsername('hoster'))?.verifiedEmail, 'hoster@example.org', 'the host store holds the proof')

    t.equal((await host.inject({ method: 'POST', url: '/auth/password-reset', payload: { email: 'HOSTER@example.org' } })).statusCode, 202)
    await until(() => sent.length === 2)
    t.match(sent[1], { kind: 'password_reset', to: 'hoster@example.org' }, 'through the host\'s send hook')
    t.equal((await host.inject({ method: 'POST', url: '/auth/password-reset/confirm', payload: { token: tokenOf(sent[1]), new_password: 'hoster-password-2' } })).statusCode, 204)
    const login = await requestToken(host, { username: 'hoster', password: 'hoster-password-2' })
    t.equal(login.statusCode, 200, 'the new password logs in')
    t.equal((await host.inject({ url: '/auth/users/me/', headers: bearer(login.json().access_token) })).json().email_verified, true)
  })
})

t.test('a store without setVerifiedEmail: no recovery routes, and requireVerifiedEmail refused at start-up', async (t) => {
  const host = newHost(t)
  await host.register(tokenAuth, pluginOptions({ prefix: '/auth', store: memoryStore(), database: 'sqlite::memory:', mail: mailTo([]) }))
  await host.ready()
  for (const url of ['/auth/password-reset', '/auth/email/verify']) t.equal((await host.inject({ method: 'POST', url, payload: {} })).statusCode, 404, url)

  const strict = newHost(t)
  await t.rejects(async () => {
    await strict.register(tokenAuth, pluginOptions({ prefix: '/auth', store: memoryStore(), database: 'sqlite::memory:', requireVerifiedEmail: true }))
    await strict.ready()
  }, { message: /requireVerifiedEmail needs a user store that keeps verified addresses/ })
})
