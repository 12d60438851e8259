/**
 * Prints the nats-server `authorization` block for a deployment: every service user with
 * its permissions (permissions.ts) and its password as `$NATS_PASSWORD_<USER>`, which
 * nats-server reads from its own environment (a Kubernetes Secret), so the output holds
 * no secret and can live in a ConfigMap. A test can compare a committed copy with this.
 *
 *   node --import tsx services/common/gen-nats-auth.ts [--shards N] [--file]
 *
 * `--file` prints the whole file the Kubernetes ConfigMaps ship (k8s/base/nats/auth.conf,
 * k8s/overlays/prod/auth.conf: `make k8s-nats-auth` writes them; tests/k8s checks them).
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

/** The Kubernetes `auth.conf`: a header saying where it comes from, then the block. */
export function deploymentAuthFile(shards: number): string {
  return [
    `# Generated from services/common/permissions.ts for SHARDS=${String(shards)} by`,
    '# `make k8s-nats-auth`; do not edit (tests/k8s compares it with the generator).',
    "# Passwords come from the server's environment: the Secret ledgerflux-nats.",
    deploymentAuthorization(shards),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { shards: { type: 'string', default: '1' }, file: { type: 'boolean' } },
  });
  const shards = Number(values.shards);
  if (!Number.isInteger(shards) || shards < 1) {
    process.stderr.write('--shards must be a positive integer\n');
    process.exit(2);
  }
  process.stdout.write(
    values.file === true ? deploymentAuthFile(shards) : deploymentAuthorization(shards),
  );
}
