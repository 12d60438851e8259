/**
 * Prints the nats-server `authorization` block for a deployment: every service user with
 * its permissions (permissions.ts) and its password as `$NATS_PASSWORD_<USER>`, which
 * nats-server reads from its own environment (a Kubernetes Secret), so the output holds
 * no secret and can live in a ConfigMap. A test can compare a committed copy with this.
 *
 *   node --import tsx services/common/gen-nats-auth.ts [--shards N]
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  NATS_USERS,
  natsPermissionTable,
  passwordEnvName,
  renderNatsAuthorization,
} from './permissions.js';

/** The block for `shards` normalizer shards, passwords from the server's environment. */
export function deploymentAuthorization(shards: number): string {
  return renderNatsAuthorization(
    natsPermissionTable(Array.from({ length: shards }, (_, k) => k)),
    Object.fromEntries(NATS_USERS.map((u) => [u, { env: passwordEnvName(u) }])),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { shards: { type: 'string', default: '1' } } });
  const shards = Number(values.shards);
  if (!Number.isInteger(shards) || shards < 1) {
    process.stderr.write('--shards must be a positive integer\n');
    process.exit(2);
  }
  process.stdout.write(deploymentAuthorization(shards));
}
