import { describe, expect, it } from 'vitest';
import { captureLogger } from '../../harness/log-capture.js';

describe('createLogger redaction (issue 15)', () => {
  it('never writes a password, a key or a database URL that a config object carries', () => {
    const { log, lines } = captureLogger('test');
    const config = {
      NATS_USER: 'gateway',
      NATS_PASSWORD: 'secret-nats',
      DATABASE_URL: 'postgres://ledgerflux_gateway:secret-db@db/ledgerflux',
      SNAPSHOTTER_DB_PASSWORD: 'secret-snap',
      GATEWAY_DB_PASSWORD: 'secret-gw',
      GRAFANA_DB_PASSWORD: 'secret-grafana',
      GATEWAY_API_KEYS: 'secret-key',
    };
    log.info({ config, login: { user: 'u', pass: 'secret-pass', password: 'secret-pw' } }, 'x');
    const text = JSON.stringify(lines());
    expect(text).not.toMatch(/secret/);
    expect(text).toContain('"NATS_USER":"gateway"');
    expect(text).toContain('[redacted]');
  });
});
