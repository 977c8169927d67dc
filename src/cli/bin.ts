#!/usr/bin/env node
/** The executable entry: only this file runs the CLI, so tests can import main.ts freely. */
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`voice-gateway: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
