import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errors, sendError, type ErrorEntry } from '../index.js'

// What Node's HTTP parser refuses before Fastify sees a request, from the error table.
const ANSWERS: Record<string, ErrorEntry<[]>> = {
  ERR_HTTP_REQUEST_TIMEOUT: errors.REQUEST_TIMEOUT,
  HPE_HEADER_OVERFLOW: errors.HEADERS_TOO_LARGE
}

/**
 * The service's `clientErrorHandler`: a `{"detail"}` answer, as everywhere else, and a debug
 * line with the parser's code only. Never the error itself, whose `rawPacket` holds the bytes
 * received (a bearer token or a password among them); a client's doing is never an error-level
 * event, and a client that went away gets no answer. Requests parsed before the bad bytes are
 * answered first, in order (HTTP pipelining); the refusal follows and closes the connection.
 */
export function clientErrorHandler (this: FastifyInstance, error: Error & { code?: string, reason?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    this.log.debug({ code: error.code }, 'client went away')
    return
  }
  // The parser stays failed: every further chunk on the socket reports again.
  if (refusing.has(socket)) return
  refusing.add(socket)
  const { statusCode: status, headers, detail } = (ANSWERS[error.code ?? ''] ?? errors.MALFORMED_REQUEST).answer()
  this.log.debug({ code: error.code, reason: error.reason, status }, 'refused a malformed request')
  const body = JSON.stringify({ detail })
  const head = Object.entries({ 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), ...headers })
  afterResponses(socket, () => {
    if (socket.destroyed || !socket.writable) return
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${head.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${body}`)
  })
}

const refusing = new WeakSet<Socket>()

/**
 * Calls `then` once no response is in flight on the socket for a request received whole. Node
 * attaches the response being written as `socket._httpMessage`, and the next pipelined one when
 * that one finishes. A request whose body the bad bytes cut short is not waited for.
 */
function afterResponses (socket: Socket, then: () => void): void {
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (inFlight == null || !inFlight.req.complete || socket.destroyed) {
    then()
    return
  }
  inFlight.once('close', () => { afterResponses(socket, then) })
}

// What Fastify's router refuses before a route is found.
const FRAMEWORK_ANSWERS: Record<string, ErrorEntry<[]>> = {
  FST_ERR_BAD_URL: errors.BAD_URL,
  FST_ERR_MAX_PARAM_LENGTH: errors.PARAM_TOO_LONG
}

/**
 * The service's `frameworkErrors`: the router's refusals answer `{"detail"}` too, without
 * echoing the path (it may hold a token).
 */
export function frameworkErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = FRAMEWORK_ANSWERS[error.code]
  if (answer === undefined) {
    request.log.error({ code: error.code }, 'the router failed')
    return sendError(reply, errors.INTERNAL)
  }
  request.log.debug({ code: error.code }, 'refused a malformed URL')
  return sendError(reply, answer)
}
