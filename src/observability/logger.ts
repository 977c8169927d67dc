/**
 * The process logger: pino, JSON, secrets redacted by path. Created once by the entry file and passed
 * in; per-call child loggers carry `callId` and `correlationId` so their bindings are serialised once.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line, whatever logs them. */
export const REDACT_PATHS = [
  'apiKey',
  'authToken',
  'token',
  'secret',
  'password',
  '*.apiKey',
  '*.authToken',
  '*.token',
  '*.secret',
  '*.password',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-twilio-signature"]',
  'req.headers["telnyx-signature-ed25519"]',
];

export function createLogger(
  options: { level?: string; destination?: DestinationStream; base?: Record<string, unknown> } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? { service: 'voice-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/** A logger that writes nothing, for tests and library use without a configured logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
