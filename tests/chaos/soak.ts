/**
 * Chaos soak: `npm run soak -- --minutes N --seed S` (`make soak MINUTES=N SEED=S`).
 *
 * The whole pipeline on a 3-node JetStream cluster (R3) under load with the simulator's
 * faults on (drops, duplicates, reordering), while a seeded random schedule kills (-9) and
 * restarts the ingestor, each normalizer shard, the snapshotter, the gateway, a NATS node
 * and PostgreSQL. At the end: exactly-once and in order end to end against the
 * simulator's log (PostgreSQL and a WebSocket client), gaps announced against the
 * simulator's own records, and every process's memory trend. Exit status 1 on any
 * violation.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { killAll } from '../harness/processes.js';
import { drainDurables } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';
import { eventCounts, explainIds } from './explain.js';
import { judge, openConnections, type GapCause } from './oracle.js';
import { Observer } from './observer.js';
import { counterValue, rssKib, startChaosRig, type ChaosRig } from './rig.js';
import { rng } from '../harness/rng.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];
const SHARDS = 2;
/**
 * Below what the R3 pipeline sustains on a 2-core machine (300/s, see
 * tests/chaos/failover.test.ts): the backlog a killed normalizer leaves must drain.
 */
const RATE = 250;
const WARMUP_MS = 5_000;
/** No kill starts in the last part of the run: the pipeline settles before the checks. */
const QUIET_TAIL_MS = 10_000;
const RSS_EVERY_MS = 2_000;

/** A service name, 'nats' (a random node) or 'postgres'. */
type Target = string;

interface Sample {
  tMs: number;
  kib: number;
  pid: number;
}

/** Least-squares slope in KiB per minute. */
function slopePerMin(samples: readonly Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((s, x) => s + x.tMs, 0) / n;
  const my = samples.reduce((s, x) => s + x.kib, 0) / n;
  let num = 0;
  let den = 0;
  for (const x of samples) {
    num += (x.tMs - mx) * (x.kib - my);
    den += (x.tMs - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function usage(): never {
  console.error('usage: npm run soak -- --minutes N [--seed S]');
  process.exit(2);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      minutes: { type: 'string' },
      seed: { type: 'string' },
      // Explain a few announced gaps even when all is well (checks the explaining itself).
      explain: { type: 'boolean' },
    },
    strict: true,
  });
  const minutes = Number(values.minutes ?? '2');
  const seed = Number(values.seed ?? '1');
  if (!(minutes > 0) || !Number.isInteger(seed)) usage();
  const runMs = minutes * 60_000;
  const random = rng(seed);
  const t0 = Date.now();
  const say = (msg: string) => {
    console.info(`[soak +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
  };

  const rig = await startChaosRig({
    products: PRODUCTS,
    shards: SHARDS,
    rate: RATE,
    seed,
    faults: { drop: { p: 0.005 }, dup: { p: 0.005 }, reorder: { p: 0.01, k: 3 } },
  });
  let failed = false;
  const obs = new Observer(rig.gatewayWsUrl(), PRODUCTS);
  const nc = await connectNats({
    servers: rig.cluster.urls,
    name: 'soak',
    log: createLogger('soak', 'silent'),
  });
  try {
    say(
      `pipeline up: 3 NATS nodes (R3), ${String(SHARDS)} shards, ${String(RATE)} frames/s, seed ${String(seed)}`,
    );
    const memory = new Map<string, Sample[]>();
    const pids = (): [string, number | undefined][] => [
      ...[...rig.services.values()].map((s): [string, number | undefined] => [s.name, s.pid()]),
      ...rig.cluster.nodes.map((n): [string, number | undefined] => [`nats ${n.name}`, n.pid()]),
      ['postgres (postmaster)', rig.pg.pid()],
      ['soak (client, oracle)', process.pid],
    ];
    const sampler = setInterval(() => {
      void (async () => {
        for (const [name, pid] of pids()) {
          const kib = await rssKib(pid);
          if (kib === undefined || pid === undefined) continue;
          const list = memory.get(name) ?? [];
          list.push({ tMs: Date.now() - t0, kib, pid });
          memory.set(name, list);
        }
      })();
    }, RSS_EVERY_MS);

    await waitFor('trades at the client', () => obs.count > 100, { timeoutMs: 60_000 });
    const start = Date.now();
    const kills = new Map<Target, number>();
    const killedConns = new Set<string>();
    const targets: Target[] = [
      'ingestor',
      ...Array.from({ length: SHARDS }, (_, k): Target => `normalizer-${String(k)}`),
      'snapshotter',
      'gateway',
      'nats',
      'postgres',
    ];
    // Each round kills every target once, in a seeded order, at seeded intervals.
    let round: Target[] = [];
    await sleep(WARMUP_MS);
    while (Date.now() - start < runMs - QUIET_TAIL_MS) {
      if (round.length === 0) round = shuffle(targets, random);
      const target = round.shift() as Target;
      const downMs = 500 + Math.floor(random() * 3_000);
      await chaos(rig, target, downMs, random, killedConns, say);
      kills.set(target, (kills.get(target) ?? 0) + 1);
      const pause = 1_000 + Math.floor(random() * 4_000);
      await sleep(Math.min(pause, Math.max(0, start + runMs - QUIET_TAIL_MS - Date.now())));
    }
    await sleep(Math.max(0, start + runMs - Date.now()));
    say(`run over; ${String(obs.count)} trades at the client; stopping the feed and draining`);

    await rig.service('ingestor').stop();
    const log = await waitFor(
      'the simulator log at rest',
      async () => {
        const l = await rig.simLog();
        return Object.values(l.products).every((p) => Object.keys(p.pending).length === 0) && l;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const durables = Array.from({ length: SHARDS }, (_, k) => `normalizer-${String(k)}`);
    await drainDurables(nc, 'MD_RAW', durables, { outStream: 'MD_NORM', timeoutMs: 120_000 });
    await drainDurables(nc, 'MD_NORM', ['snapshotter'], { timeoutMs: 120_000 });
    const observations = await obs.settle(nc, rig.sql, 120_000);
    clearInterval(sampler);

    const verdicts = judge(log, observations, killedConns);
    const frames = Object.values(log.connections).reduce((n, c) => n + c.frames_sent, 0);
    const causes: Partial<Record<GapCause, number>> = {};
    for (const v of verdicts)
      for (const [k, n] of Object.entries(v.gapsByCause))
        causes[k as GapCause] = (causes[k as GapCause] ?? 0) + n;
    const sum = (f: (v: (typeof verdicts)[number]) => number) =>
      verdicts.reduce((n, v) => n + f(v), 0);
    let restarts = 0;
    let wrongLast = 0;
    for (const name of durables) {
      const text = await rig.metrics(name);
      restarts += counterValue(text, 'ledgerflux_normalizer_shard_restarts_total');
      wrongLast += counterValue(text, 'ledgerflux_normalizer_wrong_last_sequence_total');
    }
    const feedRecreated = counterValue(
      await rig.metrics('gateway'),
      'ledgerflux_gateway_feed_recreated_total',
    );

    console.info('\n=== soak report ===');
    console.info(
      `minutes ${String(minutes)}, seed ${String(seed)}, wall ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    console.info(`frames sent by the simulator: ${String(frames)}`);
    console.info(
      `trades: generated ${String(sum((v) => v.generated))}, stored ${String(sum((v) => v.stored))}, at the client ${String(obs.count)}`,
    );
    console.info(`kills (-9) per kind: ${JSON.stringify(Object.fromEntries(kills))}`);
    console.info(
      `gaps announced ${String(sum((v) => v.announced))} by cause ${JSON.stringify(causes)}; drops made (fault_drop) ${String(sum((v) => v.drops))}`,
    );
    console.info(
      `since restart (current processes): shard restarts ${String(restarts)}, wrong-last-sequence resolutions ${String(wrongLast)}, gateway feed re-created ${String(feedRecreated)}`,
    );
    // A killed process starts again from nothing: its trend is its last incarnation's.
    console.info(
      'memory (RSS MiB) of each process, last incarnation: first / last / peak, slope MiB/min, samples, incarnations',
    );
    for (const [name, all] of memory) {
      const lastPid = all.at(-1)?.pid;
      const samples = all.filter((x) => x.pid === lastPid);
      const first = samples[0]?.kib ?? 0;
      const last = samples.at(-1)?.kib ?? 0;
      const peak = Math.max(...samples.map((x) => x.kib));
      const incarnations = new Set(all.map((x) => x.pid)).size;
      console.info(
        `  ${name.padEnd(24)} ${mib(first)} / ${mib(last)} / ${mib(peak)}, ${(slopePerMin(samples) / 1024).toFixed(2)}, ${String(samples.length)}, ${String(incarnations)}`,
      );
    }
    const violations = verdicts.flatMap((v) => v.violations);
    if (causes.fault_drop !== sum((v) => v.drops))
      violations.push(
        `fault drops ${String(sum((v) => v.drops))} but ${String(causes.fault_drop ?? 0)} announced`,
      );
    console.info('events logged by every incarnation (what costs or announces trades):');
    console.info((await eventCounts(rig.services.values())).join('\n') || '  none');
    if (violations.length > 0) {
      failed = true;
      console.error(`\nVIOLATIONS (${String(violations.length)}):\n${violations.join('\n')}`);
    }
    if (violations.length > 0 || values.explain === true) {
      console.error('the ids involved, from the simulator log and the streams:');
      for (const v of verdicts) {
        const sample =
          values.explain === true
            ? (observations.get(v.product)?.clientGaps ?? []).slice(0, 3)
            : [];
        const lines = await explainIds(
          nc,
          v.product,
          [...new Set([...v.suspects, ...sample])],
          log.products[v.product],
          killedConns,
        ).catch((err: unknown) => [`  ${v.product}: cannot explain: ${String(err)}`]);
        if (lines.length > 0) console.error(lines.join('\n'));
      }
    }
    if (violations.length === 0) {
      console.info('\nno violation: every trade once and in order, every gap a real miss');
    }
  } catch (err) {
    failed = true;
    console.error(
      `soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    console.error(await rig.diagnose().catch(() => ''));
  } finally {
    obs.close();
    await nc.close().catch(() => undefined);
    await rig.stop();
    await killAll();
  }
  return failed ? 1 : 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const x = a[i] as T;
    a[i] = a[j] as T;
    a[j] = x;
  }
  return a;
}

/** Kill -9 one target, leave it down for `downMs`, start it again and wait until ready. */
async function chaos(
  rig: ChaosRig,
  target: Target,
  downMs: number,
  random: () => number,
  killedConns: Set<string>,
  say: (msg: string) => void,
): Promise<void> {
  const at = Date.now();
  if (target === 'nats') {
    const nodes = rig.cluster.nodes;
    const node = nodes[Math.floor(random() * nodes.length)] ?? nodes[0];
    if (node === undefined) return;
    await node.kill();
    await sleep(downMs);
    await node.start();
    await rig.cluster.waitHealthy(['MD_RAW', 'MD_NORM'], 120_000);
    say(
      `killed and restarted NATS ${node.name} (down ${String(downMs)} ms, healthy after ${String(Date.now() - at)} ms)`,
    );
    return;
  }
  if (target === 'postgres') {
    await rig.pg.kill();
    await sleep(downMs);
    await rig.pg.restart();
    say(`killed and restarted PostgreSQL (down ${String(downMs)} ms)`);
    return;
  }
  if (target === 'ingestor') {
    // The connections it holds now are the ones whose undelivered trades it may take along.
    for (const c of openConnections(await rig.simLog())) killedConns.add(c);
  }
  const s = rig.service(target);
  await s.kill();
  if (target === 'ingestor')
    for (const c of openConnections(await rig.simLog())) killedConns.add(c);
  await sleep(downMs);
  await s.start();
  say(
    `killed and restarted ${target} (down ${String(downMs)} ms, ready after ${String(Date.now() - at)} ms)`,
  );
}

process.exitCode = await main();
