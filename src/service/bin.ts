#!/usr/bin/env node
import { run } from './cli.js'

// The CLI's executable: everything else is in run().
process.exitCode = await run(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
