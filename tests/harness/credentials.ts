import { randomSecret } from '../../services/common/secrets.js';
import {
  NATS_USERS,
  natsPermissionTable,
  renderNatsAuthorization,
  type NatsUser,
} from '../../services/common/permissions.js';

/**
 * Per-service NATS users for a test server (the `authorization` option of startNats):
 * each service user with its permissions from services/common/permissions.ts and a fresh
 * random password, plus an unrestricted `test` user for the test's own checks.
 */
export interface NatsLogin {
  user: string;
  password: string;
}

export interface SecureNats {
  /** The block to pass as startNats({ authorization }). */
  authorization: string;
  users: Readonly<Record<NatsUser, NatsLogin>>;
  /** Unrestricted: the test's own connection. */
  admin: NatsLogin;
  /** NATS_USER / NATS_PASSWORD of one service, to merge into its environment. */
  env(user: NatsUser): { NATS_USER: string; NATS_PASSWORD: string };
  /** Every password, for the tests that look for leaks. */
  secrets(): string[];
}

export function secureNats(shards = 1): SecureNats {
  const users = Object.fromEntries(
    NATS_USERS.map((u) => [u, { user: u, password: randomSecret() }]),
  ) as Record<NatsUser, NatsLogin>;
  const admin = { user: 'test', password: randomSecret() };
  const table = natsPermissionTable(Array.from({ length: shards }, (_, k) => k));
  const authorization = renderNatsAuthorization(
    table,
    Object.fromEntries(NATS_USERS.map((u) => [u, { value: users[u].password }])),
    [admin],
  );
  return {
    authorization,
    users,
    admin,
    env: (u) => ({ NATS_USER: users[u].user, NATS_PASSWORD: users[u].password }),
    secrets: () => [...NATS_USERS.map((u) => users[u].password), admin.password],
  };
}
