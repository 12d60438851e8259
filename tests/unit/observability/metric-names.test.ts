/**
 * Every metric a service defines follows the naming rules (ledgerflux_<service>_<name>_<unit>,
 * counters in _total, histograms and gauges in their unit), has a help text, and uses only
 * bounded labels; products come from the configuration only. The live test applies the
 * same rules to everything the running services expose (the REST metrics included).
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../../services/common/metrics.js';
import { createGatewayMetrics } from '../../../services/gateway/metrics.js';
import { createIngestorMetrics } from '../../../services/ingestor/metrics.js';
import { createNormalizerMetrics } from '../../../services/normalizer/metrics.js';
import { SimMetrics } from '../../../services/sim/metrics.js';
import { createSnapshotterMetrics } from '../../../services/snapshotter/metrics.js';
import { metricProblems, type MetricInfo } from '../../harness/metric-rules.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'];

async function infos(registry: Registry): Promise<MetricInfo[]> {
  const json = await registry.getMetricsAsJSON();
  return json.map((m) => ({
    name: m.name,
    type: String(m.type),
    help: m.help,
    labelNames: [
      ...new Set(
        m.values.flatMap((v) =>
          Object.keys(v.labels).filter((k) => k !== 'le' && k !== 'quantile'),
        ),
      ),
    ],
  }));
}

const registries: Record<string, () => Registry> = {
  ingestor: () => {
    const r = createRegistry('ingestor');
    createIngestorMetrics(r, PRODUCTS);
    return r;
  },
  normalizer: () => {
    const r = createRegistry('normalizer');
    createNormalizerMetrics(r, 0);
    return r;
  },
  snapshotter: () => {
    const r = createRegistry('snapshotter');
    createSnapshotterMetrics(r);
    return r;
  },
  gateway: () => {
    const r = createRegistry('gateway');
    createGatewayMetrics(r);
    return r;
  },
  sim: () => {
    const r = createRegistry('sim');
    new SimMetrics(r);
    return r;
  },
};

describe('metric names, help texts and labels', () => {
  for (const [service, make] of Object.entries(registries)) {
    it(`${service}: every metric follows the rules`, async () => {
      const list = await infos(make());
      expect(list.length).toBeGreaterThan(10);
      expect(list.flatMap(metricProblems)).toEqual([]);
      for (const m of list) expect(m.name.startsWith(`ledgerflux_${service}_`), m.name).toBe(true);
    });
  }

  it('product label values are the configured products, nothing else', async () => {
    const r = new Registry();
    createIngestorMetrics(r, PRODUCTS);
    const values = (await r.getMetricsAsJSON())
      .flatMap((m) => m.values)
      .map((v) => v.labels.product)
      .filter((p) => p !== undefined);
    expect(values.length).toBeGreaterThan(0);
    expect(new Set(values)).toEqual(new Set(PRODUCTS));
  });

  it('the rules catch the mistakes the audit removed', () => {
    const bad: [MetricInfo, RegExp][] = [
      [
        {
          name: 'ledgerflux_ingestor_seconds_since_last_frame_seconds',
          type: 'gauge',
          help: 'Seconds since the last frame',
          labelNames: [],
        },
        /"seconds" twice/,
      ],
      [
        {
          name: 'ledgerflux_ingestor_publish_in_flight',
          type: 'gauge',
          help: 'Publishes awaiting their PubAck',
          labelNames: [],
        },
        /a gauge ends in its unit/,
      ],
      [
        {
          name: 'ledgerflux_sim_connections_open',
          type: 'gauge',
          help: 'Connections open now',
          labelNames: [],
        },
        /a gauge ends in its unit/,
      ],
      [
        {
          name: 'ledgerflux_gateway_frames',
          type: 'counter',
          help: 'Frames written',
          labelNames: [],
        },
        /a counter ends in _<thing>_total/,
      ],
      [
        {
          name: 'ledgerflux_gateway_latency',
          type: 'histogram',
          help: 'Publish to write',
          labelNames: [],
        },
        /a histogram ends in its unit/,
      ],
      [
        {
          name: 'ledgerflux_gateway_x_total',
          type: 'counter',
          help: 'error frames',
          labelNames: [],
        },
        /starts lowercase/,
      ],
      [
        { name: 'ledgerflux_gateway_x_total', type: 'counter', help: '', labelNames: [] },
        /help text missing/,
      ],
      [
        {
          name: 'ledgerflux_gateway_client_frames_total',
          type: 'counter',
          help: 'Frames by client',
          labelNames: ['client_id'],
        },
        /"client_id" is not a bounded label/,
      ],
      [
        { name: 'gateway_frames_total', type: 'counter', help: 'Frames written', labelNames: [] },
        /not ledgerflux_<service>/,
      ],
    ];
    for (const [m, expected] of bad) expect(metricProblems(m).join('\n'), m.name).toMatch(expected);
  });
});
