/**
 * Migration 002 (issue 15, least privilege): only the migrating user (the schema's owner)
 * creates objects in the schema. PostgreSQL 15 no longer lets every role create in
 * `public`; older servers do, so a service login could otherwise add tables there.
 * Migrations own the schema: the services' logins (`ledgerflux migrate`, db-logins.ts)
 * get their group's rights on the tables and nothing else.
 */
export const sql = `
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
`;
