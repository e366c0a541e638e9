// One structured JSON logger for every program (pino, the logger fastify ships).
// Redaction is the safety net; the code also never passes secrets to the logger on purpose.
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization', 'headers.authorization', 'authorization', 'token', 'password', 'secret',
  '*.token', '*.password', '*.secret', '*.authorization', 'config.auth', 'smtp.pass',
];

export function createLogger(level: string, name: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      name,
      level,
      base: { program: name },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err, req: (req: { method?: string; url?: string }) => ({ method: req.method, url: stripToken(req.url) }) },
    },
    destination ?? process.stdout,
  );
}

/** ?token=... in a WebSocket URL must not reach a log line. */
export function stripToken(url: string | undefined): string | undefined {
  return url?.replace(/([?&](?:token|access_token)=)[^&]*/gi, '$1[redacted]');
}
