import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { errors, sendError } from '../../index.js'

export interface BodyDeadlineOptions {
  /** How long a request body may take to arrive, in ms, counted from the end of its headers. 0: no bound. */
  timeout: number
}

function announcesBody (request: FastifyRequest): boolean {
  const { headers } = request
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** Answers 408 and closes the connection; after an answer already sent, only closes it. */
function cut (request: FastifyRequest, reply: FastifyReply): void {
  if (reply.sent || reply.raw.headersSent) {
    request.raw.destroy()
    return
  }
  request.log.debug('request body timed out')
  sendError(reply, errors.BODY_TIMEOUT)
}

/** A timer for the body, cleared when it ends or the request closes. */
function arm (request: FastifyRequest, reply: FastifyReply, timeout: number): void {
  // A deadline never keeps the process alive by itself.
  const timer = setTimeout(cut, timeout, request, reply).unref()
  const clear = () => { clearTimeout(timer) }
  request.raw.once('end', clear)
  request.raw.once('close', clear)
}

/**
 * Node stops applying `requestTimeout` once a request is handed over, so a body that stops
 * arriving would hold its socket: a request announcing a body gets a deadline, from the end
 * of its headers (Node has not parsed any of the body yet when Fastify's first hook runs, even
 * one that came in the same packet). A request without a body gets no timer.
 */
export default fp<BodyDeadlineOptions>(async function bodyDeadline (app, opts) {
  const timeout = opts.timeout
  if (!(Number.isInteger(timeout) && timeout >= 0)) throw new Error('body deadline: timeout must be a whole number of ms, 0 for none')
  if (timeout === 0) return
  app.addHook('onRequest', function armBodyDeadline (request, reply, done) {
    if (announcesBody(request)) arm(request, reply, timeout)
    done()
  })
}, { name: 'token-auth/body-deadline', fastify: '5.x' })
