import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the run's shared PostgreSQL cluster; see testDatabase(). */
    pgAdminUrl: string;
  }
}

/**
 * One PostgreSQL cluster per run: initdb costs about a second, a database in it a
 * fraction of that, so test files share the cluster and each takes its own database.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startPostgres();
  project.provide('pgAdminUrl', cluster.adminUrl);
  return () => cluster.stop();
}
