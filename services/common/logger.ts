import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** JSON logs to stdout; services derive child loggers per component, shard or connection. */
export function createLogger(
  service: string,
  level: string,
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      // API keys and passwords never reach the logs, whoever logs a config object.
      redact: {
        paths: [
          '*.password',
          '*.pass',
          '*.NATS_PASSWORD',
          '*.SNAPSHOTTER_DB_PASSWORD',
          '*.GATEWAY_DB_PASSWORD',
          '*.GRAFANA_DB_PASSWORD',
          // The services' URLs carry their database login's password.
          '*.DATABASE_URL',
          '*.GATEWAY_API_KEYS',
          '*.apiKey',
          '*.api_key',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
