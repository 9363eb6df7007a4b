import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import type { Test } from 'tap'

/** What a test's logger was told, by level. */
export interface LogLine { level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, message: string }

export function recordingLog () {
  const lines: LogLine[] = []
  const at = (level: LogLine['level']) => (fields: object, message: string) => { lines.push({ level, fields: fields as Record<string, unknown>, message }) }
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn') } }
}

/** Resolves once `check` holds, polling. */
export async function until (check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * A real SMTP server on 127.0.0.1 (plain, no STARTTLS), closed when the test ends. Every mail it
 * accepts is parsed with mailparser into `received`.
 */
export async function startSmtpServer (t: Test, options: SMTPServerOptions = {}) {
  const received: ParsedMail[] = []
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    ...options,
    onData (stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        received.push(mail)
        callback()
      }, callback)
    }
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  const { port } = server.server.address() as AddressInfo
  return { received, port, url: `smtp://127.0.0.1:${port}` }
}

/** A TCP server on 127.0.0.1 that takes connections and never says a word; closed when the test ends. */
export async function startSilentServer (t: Test) {
  const sockets = new Set<Socket>()
  let connections = 0
  const server: Server = createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  })
  const { port } = server.address() as AddressInfo
  return { port, url: `smtp://127.0.0.1:${port}`, get connections () { return connections }, get open () { return sockets.size } }
}
