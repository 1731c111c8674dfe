// pino logging: one JSON line per event; children carry a request or job id on every line.
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(
  service: string,
  level = process.env['PADDOCK_LOG_LEVEL'] ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    // Secrets never reach a log line, whichever object they ride in on.
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'token',
        'secret',
        '*.token',
        '*.secret',
        'apiKey',
        // Service credentials: a Redis URL carries its user's password.
        'redisUrl',
        '*.redisUrl',
        'serviceToken',
        '*.serviceToken',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A child logger for one unit of work (HTTP request, BullMQ job, review). */
export function forWork(logger: Logger, ids: Record<string, string | undefined>): Logger {
  return logger.child(Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== undefined)));
}
