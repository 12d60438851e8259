import { describe, expect, it } from 'vitest';
import { NATS_USERS } from '../../../services/common/permissions.js';
import { CREDENTIAL_VARIABLES, secureRun } from '../../../services/run/secure.js';

const DB = 'postgres://ledgerflux@127.0.0.1:5432/ledgerflux';
const COMMANDS = ['migrate', 'sim', 'ingestor', 'normalizer', 'snapshotter', 'gateway'];

describe('ledgerflux run --secure credentials', () => {
  it('gives each child its own credentials and no other', () => {
    const s = secureRun(2);
    const secrets = s.secrets();
    expect(new Set(secrets).size).toBe(NATS_USERS.length + 2);
    for (const command of COMMANDS) {
      const env = s.envFor(command, DB);
      const held = secrets.filter((x) => Object.values(env).some((v) => v.includes(x)));
      const expected = {
        migrate: 3, // its NATS password and the two logins it creates
        sim: 0,
        ingestor: 1,
        normalizer: 1,
        snapshotter: 2, // NATS and its database login
        gateway: 2,
      }[command];
      expect(held.length, command).toBe(expected);
      if (command !== 'sim') expect(env.NATS_USER, command).toBe(command);
    }
    expect(new URL(s.envFor('gateway', DB).DATABASE_URL ?? '').username).toBe('ledgerflux_gateway');
    expect(new URL(s.envFor('snapshotter', DB).DATABASE_URL ?? '').username).toBe(
      'ledgerflux_snapshotter',
    );
  });

  it('writes every password into the server config, one user per service, for every shard', () => {
    const s = secureRun(3);
    const nats = s.secrets().slice(0, NATS_USERS.length);
    for (const x of nats) expect(s.authorization).toContain(x);
    // The database passwords are not NATS's business.
    for (const x of s.secrets().slice(NATS_USERS.length)) expect(s.authorization).not.toContain(x);
    for (const u of NATS_USERS) expect(s.authorization).toContain(`user: "${u}"`);
    expect(s.authorization).toContain('MD_RAW.normalizer-2');
    expect(s.authorization).not.toContain('MD_RAW.normalizer-3');
    expect(secureRun(3).secrets()).not.toEqual(s.secrets());
  });

  it('lists every credential variable a child could inherit from run', () => {
    expect(CREDENTIAL_VARIABLES).toEqual(
      expect.arrayContaining([
        'NATS_USER',
        'NATS_PASSWORD',
        'SNAPSHOTTER_DB_PASSWORD',
        'GATEWAY_DB_PASSWORD',
        'GRAFANA_DB_PASSWORD',
      ]),
    );
  });
});
