import { z } from 'zod';
import { databaseUrl, loadConfig, natsServiceFields, type Env } from '../common/config.js';
import { DB_LOGINS, type DbLogin } from './db-logins.js';

const roleName = (fallback: string) =>
  z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case PostgreSQL role name')
    .default(fallback);

export const MigrateConfigSchema = z.object({
  ...natsServiceFields,
  DATABASE_URL: databaseUrl,
  // The services' logins (db-logins.ts): each is created or updated when its password is set.
  SNAPSHOTTER_DB_USER: roleName('ledgerflux_snapshotter'),
  SNAPSHOTTER_DB_PASSWORD: z.string().optional(),
  GATEWAY_DB_USER: roleName('ledgerflux_gateway'),
  GATEWAY_DB_PASSWORD: z.string().optional(),
  GRAFANA_DB_USER: roleName('ledgerflux_grafana'),
  GRAFANA_DB_PASSWORD: z.string().optional(),
});
export type MigrateConfig = z.infer<typeof MigrateConfigSchema>;

export const loadMigrateConfig = (env: Env) => loadConfig(MigrateConfigSchema, env);

/** The logins whose password the configuration sets. */
export function dbLoginsOf(config: MigrateConfig): DbLogin[] {
  const given = {
    snapshotter: [config.SNAPSHOTTER_DB_USER, config.SNAPSHOTTER_DB_PASSWORD],
    gateway: [config.GATEWAY_DB_USER, config.GATEWAY_DB_PASSWORD],
    grafana: [config.GRAFANA_DB_USER, config.GRAFANA_DB_PASSWORD],
  } as const;
  return DB_LOGINS.flatMap(({ service }) => {
    const [user, password] = given[service];
    return password === undefined ? [] : [{ service, user, password }];
  });
}
