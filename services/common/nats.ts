import { connect, type NatsConnection } from '@nats-io/transport-node';
import { hideUrlPasswords } from './config.js';
import { ErrorCode, LedgerFluxError, describeError } from './errors.js';
import type { Logger } from './logger.js';

export type { NatsConnection } from '@nats-io/transport-node';

/** A full-depth Advanced Trade BTC-USD snapshot is ~5 MB; the server default is 1 MiB. */
export const MIN_MAX_PAYLOAD = 8 * 1024 * 1024;

export interface NatsConnectOptions {
  servers: readonly string[];
  name: string;
  log: Logger;
  user?: string | undefined;
  pass?: string | undefined;
  /** Set on every connection that publishes: async stack traces cost ~30% throughput. */
  publishing?: boolean;
  /** Try the servers in the given order (the client shuffles them otherwise). */
  ordered?: boolean;
  /** Resolve only after the first connection succeeds; retries until the signal aborts. */
  signal?: AbortSignal;
}

/**
 * Connects with unlimited reconnects and refuses servers whose `max_payload` is below
 * 8 MiB (they would reject full-depth snapshots at run time instead of at start).
 */
export async function connectNats(opts: NatsConnectOptions): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: [...opts.servers],
      name: opts.name,
      user: opts.user,
      pass: opts.pass,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      pingInterval: 10_000,
      maxPingOut: 3,
      waitOnFirstConnect: true,
      noAsyncTraces: opts.publishing ?? false,
      noRandomize: opts.ordered ?? false,
    });
  } catch (err) {
    throw new LedgerFluxError(
      ErrorCode.NATS_CONNECT,
      `cannot connect to NATS at ${hideUrlPasswords(opts.servers.join(','))}: ${describeError(err)}`,
      { cause: err },
    );
  }
  try {
    checkMaxPayload(nc.info?.max_payload, opts.servers);
  } catch (err) {
    await nc.close();
    throw err;
  }
  watchStatus(nc, opts.log);
  return nc;
}

export function checkMaxPayload(maxPayload: number | undefined, servers: readonly string[]): void {
  if (maxPayload === undefined || maxPayload < MIN_MAX_PAYLOAD) {
    throw new LedgerFluxError(
      ErrorCode.NATS_MAX_PAYLOAD,
      `NATS server ${hideUrlPasswords(servers.join(','))} has max_payload ${String(maxPayload)} bytes; ` +
        `LedgerFlux needs at least ${String(MIN_MAX_PAYLOAD)} (set "max_payload: 8MB" in the server config)`,
    );
  }
}

export type NatsState = 'connected' | 'disconnected' | 'reconnecting' | 'closed';

/** Logs connection state changes and keeps the last one for metrics and readiness. */
export function watchStatus(
  nc: NatsConnection,
  log: Logger,
  onState?: (s: NatsState) => void,
): void {
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          log.warn({ server: s.server }, 'nats disconnected');
          onState?.('disconnected');
          break;
        case 'reconnect':
          log.info({ server: s.server }, 'nats reconnected');
          onState?.('connected');
          break;
        case 'reconnecting':
          onState?.('reconnecting');
          break;
        case 'error':
          log.warn({ err: describeError(s.error) }, 'nats error');
          break;
        default:
          break;
      }
    }
  })();
  void nc.closed().then(() => onState?.('closed'));
}

/**
 * Keeps a service's `ledgerflux_<service>_nats_connected` gauge at 1 while the client is
 * connected and 0 from a disconnect until the reconnect (and after close), from the
 * client's own status events rather than from polling `isClosed()` (false while
 * reconnecting).
 */
export function trackNatsConnected(nc: NatsConnection, gauge: { set(value: number): void }): void {
  gauge.set(nc.isClosed() ? 0 : 1);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') gauge.set(0);
      else if (s.type === 'reconnect') gauge.set(1);
    }
  })();
  void nc.closed().then(() => {
    gauge.set(0);
  });
}

/** The NATS fields every service config has (`natsServiceFields`). */
export interface NatsServiceConfig {
  NATS_URL: readonly string[];
  NATS_USER?: string | undefined;
  NATS_PASSWORD?: string | undefined;
}

/** `connectNats` with the servers and credentials of a service's config. */
export function connectFromConfig(
  config: NatsServiceConfig,
  opts: Omit<NatsConnectOptions, 'servers' | 'user' | 'pass'>,
): Promise<NatsConnection> {
  return connectNats({
    ...opts,
    servers: config.NATS_URL,
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
  });
}
