import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../services/common/config.js';
import { loadSnapshotterConfig } from '../../../services/snapshotter/config.js';

describe('snapshotter config', () => {
  it('has the documented defaults', () => {
    expect(loadSnapshotterConfig({})).toMatchObject({
      DATABASE_URL: 'postgres://ledgerflux@127.0.0.1:5432/ledgerflux',
      METRICS_PORT: 9102,
      SNAPSHOT_INTERVAL_MS: 1000,
      BATCH_MAX: 2000,
      BATCH_MS: 200,
      RETENTION_TRADES_DAYS: 30,
      RETENTION_SNAPSHOTS_DAYS: 7,
    });
  });

  it('reports every bad variable at once', () => {
    try {
      loadSnapshotterConfig({
        DATABASE_URL: 'mysql://x',
        SNAPSHOT_INTERVAL_MS: '0',
        BATCH_MAX: '900',
        MAX_ACK_PENDING: '100',
      });
      expect.fail('accepted a bad config');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/DATABASE_URL/);
      expect(problems).toMatch(/SNAPSHOT_INTERVAL_MS/);
    }
  });

  it('needs room for a whole batch in flight', () => {
    expect(() => loadSnapshotterConfig({ BATCH_MAX: '900', MAX_ACK_PENDING: '100' })).toThrow(
      /MAX_ACK_PENDING/,
    );
  });
});
