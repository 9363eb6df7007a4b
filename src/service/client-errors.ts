import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

// What Node's HTTP parser refuses before Fastify sees a request, in the service's words.
const ANSWERS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request did not arrive in time'],
  HPE_HEADER_OVERFLOW: [431, 'The request headers are too large (at most 16 KB in all)']
}
const MALFORMED: [number, string] = [400, 'Malformed HTTP request']

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
  const [status, detail] = ANSWERS[error.code ?? ''] ?? MALFORMED
  this.log.debug({ code: error.code, reason: error.reason, status }, 'refused a malformed request')
  const body = JSON.stringify({ detail })
  afterResponses(socket, () => {
    if (socket.destroyed || !socket.writable) return
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
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
const FRAMEWORK_ANSWERS: Record<string, [number, string]> = {
  FST_ERR_BAD_URL: [400, 'The URL is malformed: a percent-escape does not decode'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'A path parameter is too long']
}

/**
 * The service's `frameworkErrors`: the router's refusals answer `{"detail"}` too, without
 * echoing the path (it may hold a token).
 */
export function frameworkErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = FRAMEWORK_ANSWERS[error.code]
  if (answer === undefined) {
    request.log.error({ code: error.code }, 'the router failed')
    return reply.code(500).send({ detail: 'Internal Server Error' })
  }
  request.log.debug({ code: error.code }, 'refused a malformed URL')
  return reply.code(answer[0]).send({ detail: answer[1] })
}
