import t from 'tap'
import { buildApp, createUser, johndoe, requestToken } from '../helper.js'

t.test('smoke', async (t) => {
  const app = await buildApp(t)
  await createUser(app, johndoe)
  const res = await requestToken(app, { username: johndoe.username, password: johndoe.password })
  t.equal(res.statusCode, 200)
})
