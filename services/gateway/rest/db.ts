import postgres, { type Sql } from 'postgres';

/**
 * The gateway's PostgreSQL pool for the history endpoints: read-only sessions (the
 * gateway never writes; a role with SELECT such as ledgerflux_reader is enough) with a
 * statement timeout, so one expensive request cannot hold a connection for long. Lazy:
 * nothing connects until the first history request, so the WebSocket side starts and
 * serves without PostgreSQL.
 */
export function connectReadPool(
  url: string,
  opts: { max: number; statementTimeoutMs: number },
): Sql {
  return postgres(url, {
    max: opts.max,
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => undefined,
    connection: {
      application_name: 'ledgerflux-gateway',
      TimeZone: 'UTC',
      statement_timeout: opts.statementTimeoutMs,
      default_transaction_read_only: true,
    },
  });
}
