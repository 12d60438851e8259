import {
  NATS_USERS,
  natsPermissionTable,
  renderNatsAuthorization,
  type NatsUser,
} from '../common/permissions.js';
import { randomSecret } from '../common/secrets.js';
import { DB_LOGINS } from '../migrate/db-logins.js';

/**
 * `ledgerflux run --secure`: fresh random credentials for this run, one NATS user per
 * service (services/common/permissions.ts) and one database login each for the
 * snapshotter and the gateway, and each child's environment with its own credentials
 * only. The passwords live in this process's memory, the children's environments and
 * the nats-server config (mode 0600); they are never printed.
 */
export interface SecureRun {
  /** The nats-server `authorization` block. */
  authorization: string;
  /**
   * What to add to a child's environment: its own credentials, nothing else (database
   * logins on the server of `databaseUrl`).
   */
  envFor(command: string, databaseUrl: string): Record<string, string>;
  /** Every generated secret (for tests). */
  secrets(): string[];
}

/** The variables `run` must not pass on from its own environment in secure mode. */
export const CREDENTIAL_VARIABLES = [
  'NATS_USER',
  'NATS_PASSWORD',
  ...DB_LOGINS.map((l) => `${l.service.toUpperCase()}_DB_PASSWORD`),
];

function isNatsUser(command: string): command is NatsUser {
  return (NATS_USERS as readonly string[]).includes(command);
}

export function secureRun(shards: number): SecureRun {
  const nats = Object.fromEntries(NATS_USERS.map((u) => [u, randomSecret()])) as Record<
    NatsUser,
    string
  >;
  const db = { snapshotter: randomSecret(), gateway: randomSecret() };
  const loginUrl = (service: 'snapshotter' | 'gateway', databaseUrl: string) => {
    const spec = DB_LOGINS.find((l) => l.service === service);
    const url = new URL(databaseUrl);
    url.username = spec?.user ?? '';
    url.password = db[service];
    return url.toString();
  };
  const authorization = renderNatsAuthorization(
    natsPermissionTable(Array.from({ length: shards }, (_, k) => k)),
    Object.fromEntries(NATS_USERS.map((u) => [u, { value: nats[u] }])),
  );
  return {
    authorization,
    envFor: (command, databaseUrl) => {
      const env: Record<string, string> = {};
      if (isNatsUser(command)) {
        env.NATS_USER = command;
        env.NATS_PASSWORD = nats[command];
      }
      if (command === 'migrate') {
        // The privileged step creates the logins, so it alone knows their passwords.
        env.SNAPSHOTTER_DB_PASSWORD = db.snapshotter;
        env.GATEWAY_DB_PASSWORD = db.gateway;
      }
      if (command === 'snapshotter' || command === 'gateway')
        env.DATABASE_URL = loginUrl(command, databaseUrl);
      return env;
    },
    secrets: () => [...Object.values(nats), db.snapshotter, db.gateway],
  };
}
