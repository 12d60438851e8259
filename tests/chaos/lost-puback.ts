import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../../services/common/logger.js';
import { connectNats, type NatsConnection } from '../../services/common/nats.js';
import { SerializedPublisher } from '../../services/normalizer/serialized-publisher.js';
import type { ClusterNode, NatsCluster } from '../harness/nats-cluster.js';
import { NormPublisher } from '../harness/norm-publisher.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { waitFor } from '../harness/wait.js';

const enc = new TextEncoder();

/**
 * A normalized publish whose PubAck is lost in a leader change, made certain: the
 * normalizer's SerializedPublisher publishes through a proxy in front of MD_NORM's leader
 * that holds back everything the server answers; once the message is stored, the test
 * kills the leader. The publisher times out, retries on another node (same msg id,
 * same expected sequence), and must find its message stored: by a duplicate answer or by
 * error 10071 resolved from the subject's last message. Never a second copy.
 */
export interface LostPubAckProbe {
  /** After the leader is dead: the publish settles; what it found, and copies stored. */
  settle(): Promise<{ resolvedBy: string[]; copies: number; duplicate: boolean }>;
  close(): Promise<void>;
}

export async function armLostPubAck(
  cluster: NatsCluster,
  leader: ClusterNode,
  admin: NatsConnection,
): Promise<LostPubAckProbe> {
  const log = createLogger('probe', 'silent');
  const proxy: TcpProxy = await startTcpProxy(leader.port);
  const others = cluster.nodes.filter((n) => n !== leader).map((n) => n.url);
  // The proxy first; the other nodes to reconnect to once the leader is gone.
  const nc = await connectNats({
    servers: [`nats://127.0.0.1:${String(proxy.port)}`, ...others],
    name: 'lost-puback-probe',
    log,
    publishing: true,
    // Regression: shuffled, the probe connected straight to a follower two times in three,
    // nothing was held, and the "lost" PubAck arrived (failover.test.ts: duplicate false).
    ordered: true,
  });
  if (proxy.accepted !== 1) {
    await nc.close();
    await proxy.close();
    throw new Error('the probe did not connect through the proxy: no PubAck would be lost');
  }
  const jsm = await jetstreamManager(admin);
  const resolvedBy: string[] = [];
  const publisher = new SerializedPublisher(
    nc,
    jsm,
    'MD_NORM',
    log,
    5_000,
    () => undefined,
    (by) => resolvedBy.push(by),
  );
  const msg = new NormPublisher(nc).status('PROBE-USD', 'feed_ok', 'lost_puback_probe');
  const subject = 'md.norm.coinbase.PROBE-USD.status';
  const msgId = `probe:${String(Date.now())}`;
  proxy.hold();
  const result = publisher.publish(subject, enc.encode(JSON.stringify(msg)), msgId, {});
  // Stored (on the leader and a follower) while its PubAck sits in the proxy.
  await waitFor(
    'the probe message stored',
    async () => {
      const last = await jsm.streams.getMessage('MD_NORM', { last_by_subj: subject });
      return last?.header.get('Nats-Msg-Id') === msgId;
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  return {
    settle: async () => {
      const r = await result;
      const info = await jsm.streams.info('MD_NORM', { subjects_filter: subject });
      return {
        resolvedBy,
        copies: info.state.subjects?.[subject] ?? 0,
        duplicate: r.duplicate,
      };
    },
    close: async () => {
      publisher.stop();
      await nc.close().catch(() => undefined);
      await proxy.close();
    },
  };
}
