import { inject } from 'vitest';
import { createDatabaseAt } from './postgres.js';

/**
 * A fresh, uniquely named database in the run's shared cluster (started by
 * global-setup.ts); returns its URL. Tests that stop or kill PostgreSQL must use
 * startPostgres() for a private cluster instead.
 */
export function testDatabase(): Promise<string> {
  return createDatabaseAt(inject('pgAdminUrl'));
}
