import { z } from 'zod';
import { databaseUrl, loadConfig, natsServiceFields, type Env } from '../common/config.js';

export const MigrateConfigSchema = z.object({
  ...natsServiceFields,
  DATABASE_URL: databaseUrl,
});
export type MigrateConfig = z.infer<typeof MigrateConfigSchema>;

export const loadMigrateConfig = (env: Env) => loadConfig(MigrateConfigSchema, env);
