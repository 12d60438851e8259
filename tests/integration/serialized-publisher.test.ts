/**
 * The normalizer's serialized publisher against a real nats-server: one chain across two
 * subjects keeps a gap ahead of the trades after it, and a wrong-last-sequence answer for
 * a message that is in fact stored (its PubAck lost) resolves to that message and is
 * counted, never stored twice.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../services/common/errors.js';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import {
  SecondWriterError,
  SerializedPublisher,
  type WrongLastOutcome,
} from '../../services/normalizer/serialized-publisher.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { readStream } from '../harness/streams.js';

const log = createLogger('test', 'silent');
const enc = new TextEncoder();

describe('SerializedPublisher against a real nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  beforeAll(async () => {
    server = await startNats();
    nc = await connectNats({ servers: [server.url], name: 'sp-test', log, publishing: true });
    await ensureTopology(nc, { replicas: 1 });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await nc.close();
    await server.stop();
  });

  it('stores a gap before the trades published after it when they share a chain', async () => {
    const p = new SerializedPublisher(nc, jsm, 'MD_NORM', log);
    const trade = 'md.norm.coinbase.CHAIN-USD.trade';
    const status = 'md.norm.coinbase.CHAIN-USD.status';
    // Trades and gaps interleaved as the sequencer emits them, all fired without waiting.
    const order = ['t1', 'g2-3', 't4', 't5', 'g6-6', 't7'];
    await Promise.all(
      order.map((id) => {
        const subject = id.startsWith('g') ? status : trade;
        return p.publish(subject, enc.encode(id), `chain:${id}`, {}, trade);
      }),
    );
    const stored = await readStream(nc, 'MD_NORM', 'md.norm.coinbase.CHAIN-USD.*');
    expect(stored.map((m) => m.text())).toEqual(order);
    p.stop();
  });

  it('a gap and another status message at once on the status subject are both stored, in order (soak seed 7, regression)', async () => {
    // The gap rides the trade chain, a book status its own subject's chain: both were in
    // flight together expecting the same last sequence, one got 10071 and was taken for a
    // second writer (the shard restarted, and the trades after a failed gap went on).
    const outcomes: WrongLastOutcome[] = [];
    const p = new SerializedPublisher(nc, jsm, 'MD_NORM', log, 5_000, (o) => outcomes.push(o));
    const trade = 'md.norm.coinbase.RACE-USD.trade';
    const status = 'md.norm.coinbase.RACE-USD.status';
    const sent = [
      p.publish(trade, enc.encode('t1'), 'race:t1', {}),
      p.publish(status, enc.encode('book_invalid'), 'race:s1', {}),
      p.publish(status, enc.encode('g2-2'), 'race:g2', {}, trade),
      p.publish(trade, enc.encode('t3'), 'race:t3', {}),
      p.publish(status, enc.encode('book_resynced'), 'race:s2', {}),
    ];
    await Promise.all(sent);
    const stored = await readStream(nc, 'MD_NORM', 'md.norm.coinbase.RACE-USD.*');
    expect(stored.map((m) => m.text())).toEqual([
      't1',
      'book_invalid',
      'g2-2',
      't3',
      'book_resynced',
    ]);
    expect(outcomes).toEqual([]);
    p.stop();
  });

  it('after a failed gap publish nothing later on its subject or chain is sent (soak seed 7, SOL-USD)', async () => {
    const p = new SerializedPublisher(nc, jsm, 'MD_NORM', log);
    const trade = 'md.norm.coinbase.BREAK-USD.trade';
    const status = 'md.norm.coinbase.BREAK-USD.status';
    const other = 'md.norm.coinbase.BREAK-USD.ticker';
    // Someone else's message on the status subject: the gap's publish fails (10071, second
    // writer). The trade after the gap must not be stored: a restart restoring its mark
    // from the last trade would never announce the gap.
    const h = natsHeaders();
    h.set('Nats-Msg-Id', 'break:other');
    await nc.request(status, enc.encode('theirs'), { headers: h, timeout: 5_000 });
    const gap = p.publish(status, enc.encode('g2-2'), 'break:g2', {}, trade);
    const after = p.publish(trade, enc.encode('t3'), 'break:t3', {});
    const later = p.publish(status, enc.encode('book_invalid'), 'break:s1', {});
    const unrelated = p.publish(other, enc.encode('tk'), 'break:tk', {});
    await expect(gap).rejects.toBeInstanceOf(SecondWriterError);
    await expect(after).rejects.toBeInstanceOf(SecondWriterError);
    await expect(later).rejects.toBeInstanceOf(SecondWriterError);
    await unrelated;
    // Published after the failure settled: still refused.
    await expect(p.publish(trade, enc.encode('t4'), 'break:t4', {})).rejects.toBeInstanceOf(
      SecondWriterError,
    );
    const stored = await readStream(nc, 'MD_NORM', 'md.norm.coinbase.BREAK-USD.*');
    expect(stored.map((m) => m.text())).toEqual(['theirs', 'tk']);
    expect(p.inFlight).toBe(0);
    p.stop();
  });

  it('resolves error 10071 for a message already stored (a lost PubAck) from the last message', async () => {
    const outcomes: WrongLastOutcome[] = [];
    const p = new SerializedPublisher(nc, jsm, 'MD_NORM', log, 5_000, (o) => outcomes.push(o));
    const subject = 'md.norm.coinbase.LOST-USD.trade';
    // The first attempt was stored but its PubAck never came back; the publisher still
    // expects the subject to be empty, and the duplicate window no longer helps.
    const h = natsHeaders();
    h.set('Nats-Msg-Id', 'lost:1');
    h.set('Nats-Expected-Last-Subject-Sequence', '0');
    await nc.request(subject, enc.encode('first'), { headers: h, timeout: 5_000 });
    await jsm.streams.update('MD_NORM', { duplicate_window: 100_000_000 }); // 100 ms
    await new Promise((r) => setTimeout(r, 300));
    const r = await p.publish(subject, enc.encode('first'), 'lost:1', {});
    expect(r.duplicate).toBe(true);
    const stored = await readStream(nc, 'MD_NORM', subject);
    expect(stored.map((m) => m.text())).toEqual(['first']);
    expect(outcomes).toEqual(['stored']);
    // The next publish expects the resolved sequence and goes through.
    await p.publish(subject, enc.encode('second'), 'lost:2', {});
    expect((await readStream(nc, 'MD_NORM', subject)).map((m) => m.text())).toEqual([
      'first',
      'second',
    ]);
    await jsm.streams.update('MD_NORM', { duplicate_window: 120_000_000_000 });
    p.stop();
  });

  it('fails with a second writer when the subject holds another message', async () => {
    const outcomes: WrongLastOutcome[] = [];
    const p = new SerializedPublisher(nc, jsm, 'MD_NORM', log, 5_000, (o) => outcomes.push(o));
    const subject = 'md.norm.coinbase.TWO-USD.trade';
    const h = natsHeaders();
    h.set('Nats-Msg-Id', 'other:1');
    await nc.request(subject, enc.encode('theirs'), { headers: h, timeout: 5_000 });
    await expect(p.publish(subject, enc.encode('mine'), 'mine:1', {})).rejects.toBeInstanceOf(
      SecondWriterError,
    );
    expect(outcomes).toEqual(['second_writer']);
    p.stop();
  });

  /**
   * Regression (found by tests/k8s/smoke.test.ts, prod overlay): a normalizer stopped while a
   * publish was still retrying exited 1 instead of 0. The publish rejected its caller, who
   * handles PUBLISHER_CLOSED, but the per-subject chain kept a second promise derived from
   * it, rejected too and handled by nobody: an unhandled rejection, which ends the process
   * before the shard's final checkpoint.
   */
  it('a publish refused after stop() rejects its caller only, with no unhandled rejection', async () => {
    const publisher = new SerializedPublisher(nc, jsm, 'MD_NORM', log);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      publisher.stop();
      const subject = 'md.norm.coinbase.STOP-USD.trade';
      await expect(publisher.publish(subject, enc.encode('{}'), 'id-1', {})).rejects.toMatchObject({
        code: ErrorCode.PUBLISHER_CLOSED,
      });
      // Node reports an unhandled rejection once the microtask queue has drained.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(publisher.inFlight).toBe(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
