import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError, RequestValidationError } from '../plugins/errors.js'
import { passwordLengthProblem } from '../plugins/passwords.js'
import { toPublicUser, UsernameTakenError } from '../plugins/users.js'
import { HTTPError, HTTPValidationError } from '../src/schemas/errors.js'
import { ref } from '../src/schemas/ref.js'
import { User, UserCreate } from '../src/schemas/user.js'
import { pathVariants } from '../src/route-paths.js'

export interface UserRoutesOptions {
  registration: 'open' | 'closed'
}

const userRoutes: FastifyPluginAsyncTypebox<UserRoutesOptions> = async function userRoutes (app, opts) {
  for (const { url, hide } of pathVariants(app, '/users/me/')) {
    app.get(url, {
      onRequest: app.auth.currentActiveUser,
      schema: {
        hide,
        summary: 'The current user',
        tags: ['users'],
        response: { 200: ref(User), 400: ref(HTTPError), 401: ref(HTTPError) }
      }
    }, async (request) => request.user)
  }

  for (const { url, hide } of pathVariants(app, '/users/')) {
    app.post(url, {
      schema: {
        hide: hide || opts.registration === 'closed',
        summary: 'Register a new user',
        description: 'Creates an account that can then log in at the token endpoint.',
        tags: ['users'],
        body: ref(UserCreate),
        response: { 201: ref(User), 403: ref(HTTPError), 409: ref(HTTPError), 422: ref(HTTPValidationError) }
      }
    }, async (request, reply) => {
      if (opts.registration === 'closed') throw new HttpError(403, 'Registration is closed')
      const { username, password, email, full_name: fullName } = request.body
      const problem = passwordLengthProblem(password)
      if (problem !== undefined) {
        throw new RequestValidationError([{ loc: ['body', 'password'], msg: problem, type: 'password_length' }])
      }
      try {
        const user = await app.users.create({ username, email, fullName, hashedPassword: await app.passwords.hash(password) })
        return await reply.code(201).send(toPublicUser(user))
      } catch (error) {
        if (error instanceof UsernameTakenError) throw new HttpError(409, 'Username already registered')
        throw error
      }
    })
  }
}

export default userRoutes
