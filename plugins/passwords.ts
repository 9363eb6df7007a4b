import fp from 'fastify-plugin'
import { createPasswordHasher, type PasswordHasher } from '../src/accounts/passwords.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenAuthPasswords: PasswordHasher
  }
}

export interface PasswordsPluginOptions {
  /** bcrypt cost factor, 4 to 15. */
  cost: number
}

export default fp<PasswordsPluginOptions>(async function passwords (app, opts) {
  app.decorate('tokenAuthPasswords', await createPasswordHasher(opts.cost))
}, { name: 'token-auth/passwords', fastify: '5.x' })
