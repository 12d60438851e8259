import { FEEDS, resyncSubject } from './subjects.js';
import { SEQ_BUCKET, STREAMS } from './topology.js';

/**
 * Least privilege on NATS (issue 15): one user per service, each allowed exactly the
 * subjects its job needs and nothing else. This table is the single source of truth:
 * the nats-server `authorization` block (test harness, `ledgerflux run --secure`, the
 * Kubernetes config) is rendered from it, and a test checks the table in
 * docs/architecture.md against it.
 *
 * Publish rights include the JetStream API requests (`$JS.API.…`), acks (`$JS.ACK.…`) and
 * KV puts (`$KV.…`): to the server they are all publishes. Replies (PubAcks, API
 * answers, pulled messages) come to the client's `_INBOX.>`; the server's own replies
 * need no publish right of the client.
 */
export const NATS_USERS = [
  'migrate',
  'ingestor',
  'normalizer',
  'snapshotter',
  'gateway',
  'dlq',
] as const;
export type NatsUser = (typeof NATS_USERS)[number];

export interface NatsUserPermissions {
  user: NatsUser;
  /** What the user is for, in a few words (the docs table's second column). */
  job: string;
  publish: readonly string[];
  /** Publishes refused even where `publish` allows them (deny wins in nats-server). */
  publishDeny: readonly string[];
  subscribe: readonly string[];
  /** May answer requests it received (nats-server `allow_responses`): the resync service. */
  allowResponses: boolean;
}

const API = '$JS.API';
const INBOX = '_INBOX.>';
const KV_STREAM = `KV_${SEQ_BUCKET}`;

const streamInfo = (...streams: string[]) => [
  `${API}.INFO`,
  ...streams.map((s) => `${API}.STREAM.INFO.${s}`),
];

/**
 * A service's own durable pull consumer: create (2.9's `CONSUMER.CREATE.<S>.<d>`, with the
 * filter subject appended by clients that know it, and the older `DURABLE.CREATE`), info,
 * delete (the re-create from the ack floor), pull, and acks.
 */
export function durableSubjects(stream: string, durable: string): string[] {
  return [
    `${API}.CONSUMER.CREATE.${stream}.${durable}`,
    `${API}.CONSUMER.CREATE.${stream}.${durable}.>`,
    `${API}.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
    `${API}.CONSUMER.INFO.${stream}.${durable}`,
    `${API}.CONSUMER.DELETE.${stream}.${durable}`,
    `${API}.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}

/** Short-lived consumers of any name on a stream (ordered consumers; no acks). */
function ephemeralSubjects(stream: string): string[] {
  return ['CREATE', 'INFO', 'DELETE', 'MSG.NEXT'].map((op) => `${API}.CONSUMER.${op}.${stream}.>`);
}

export const SNAPSHOTTER_DURABLE = 'snapshotter';
export const normalizerDurable = (shard: number | string) => `normalizer-${String(shard)}`;

const resyncSubjects = FEEDS.map((f) => resyncSubject(f));

/**
 * The permission table. `shards` names the normalizer shards whose durables the
 * `normalizer` user may use: the numbers 0…SHARDS-1 for a server config, or a
 * placeholder such as `<k>` for the docs. Every normalizer pod shares the one user (a
 * StatefulSet's pods share their Secret), so each may use every shard's durable.
 */
export function natsPermissionTable(
  shards: readonly (number | string)[],
): readonly NatsUserPermissions[] {
  const R = STREAMS.raw;
  const N = STREAMS.norm;
  const D = STREAMS.dlq;
  return [
    {
      user: 'migrate',
      job: 'creates and updates the streams and the KV bucket',
      publish: [
        `${API}.INFO`,
        ...[R, N, D, KV_STREAM].flatMap((s) =>
          ['INFO', 'CREATE', 'UPDATE'].map((op) => `${API}.STREAM.${op}.${s}`),
        ),
      ],
      publishDeny: [],
      subscribe: [INBOX],
      allowResponses: false,
    },
    {
      user: 'ingestor',
      job: 'writes MD_RAW and MD_DLQ, serves resync requests',
      publish: ['md.raw.>', 'md.dlq.>', ...streamInfo(R, D)],
      publishDeny: [],
      subscribe: [INBOX, ...resyncSubjects],
      allowResponses: true,
    },
    {
      user: 'normalizer',
      job: 'consumes its durable on MD_RAW, writes MD_NORM, MD_DLQ and KV LF_SEQ, asks for resyncs',
      publish: [
        'md.norm.>',
        'md.dlq.>',
        ...resyncSubjects,
        `$KV.${SEQ_BUCKET}.>`,
        ...streamInfo(R, N, D, KV_STREAM),
        `${API}.STREAM.MSG.GET.${N}`,
        // `Kvm.open` binds without reading the bucket's config, so `kv.get` reads from the
        // stream leader (not direct get): also what a restore wants, replicas may lag.
        `${API}.STREAM.MSG.GET.${KV_STREAM}`,
        ...shards.flatMap((k) => durableSubjects(R, normalizerDurable(k))),
      ],
      publishDeny: [],
      subscribe: [INBOX],
      allowResponses: false,
    },
    {
      user: 'snapshotter',
      job: 'consumes its durable on MD_NORM',
      publish: [...streamInfo(N), ...durableSubjects(N, SNAPSHOTTER_DURABLE)],
      publishDeny: [],
      subscribe: [INBOX],
      allowResponses: false,
    },
    {
      user: 'gateway',
      job: 'reads MD_NORM: ordered consumers and direct get',
      publish: [
        ...streamInfo(N),
        ...ephemeralSubjects(N),
        `${API}.DIRECT.GET.${N}`,
        `${API}.DIRECT.GET.${N}.>`,
      ],
      // Its consumer rights name any consumer on MD_NORM: not the snapshotter's durable.
      publishDeny: [
        `${API}.CONSUMER.*.${N}.${SNAPSHOTTER_DURABLE}`,
        `${API}.CONSUMER.*.${N}.${SNAPSHOTTER_DURABLE}.>`,
        `${API}.CONSUMER.MSG.NEXT.${N}.${SNAPSHOTTER_DURABLE}`,
      ],
      subscribe: [INBOX],
      allowResponses: false,
    },
    {
      user: 'dlq',
      job: 'ledgerflux dlq: reads MD_DLQ, replays into MD_RAW',
      publish: [
        'md.raw.>',
        ...streamInfo(D),
        `${API}.STREAM.MSG.GET.${D}`,
        ...ephemeralSubjects(D),
      ],
      publishDeny: [],
      subscribe: [INBOX],
      allowResponses: false,
    },
  ];
}

/** A user's password in the server config: the secret itself, or an environment variable. */
export type PasswordSource = { value: string } | { env: string };

/** The environment variable nats-server reads a user's password from (Kubernetes Secrets). */
export const passwordEnvName = (user: NatsUser) => `NATS_PASSWORD_${user.toUpperCase()}`;

const quote = (s: string) => JSON.stringify(s);

/**
 * The nats-server `authorization { users = [...] }` block for the given users (2.9
 * syntax). A password given as `{env}` is written as `$NAME`, which nats-server resolves
 * from its environment, so the config itself holds no secret.
 */
export function renderNatsAuthorization(
  table: readonly NatsUserPermissions[],
  passwords: Partial<Record<string, PasswordSource>>,
  extraUsers: readonly { user: string; password: string }[] = [],
): string {
  const lines = ['authorization {', '  users = ['];
  for (const p of table) {
    const pw = passwords[p.user];
    if (pw === undefined) continue;
    const password = 'value' in pw ? quote(pw.value) : `$${pw.env}`;
    lines.push(`    {`, `      user: ${quote(p.user)}`, `      password: ${password}`);
    lines.push('      permissions: {');
    lines.push('        publish: {');
    lines.push(`          allow: [${p.publish.map(quote).join(', ')}]`);
    if (p.publishDeny.length > 0)
      lines.push(`          deny: [${p.publishDeny.map(quote).join(', ')}]`);
    lines.push('        }');
    lines.push(`        subscribe: { allow: [${p.subscribe.map(quote).join(', ')}] }`);
    if (p.allowResponses) lines.push('        allow_responses: true');
    lines.push('      }', '    }');
  }
  // Unrestricted users (a test's own connection): no permissions block at all.
  for (const u of extraUsers) {
    lines.push(`    { user: ${quote(u.user)}, password: ${quote(u.password)} }`);
  }
  lines.push('  ]', '}');
  return `${lines.join('\n')}\n`;
}

/** The normalizer durables as the docs write them. */
export const DOC_SHARDS = ['<k>'] as const;

/**
 * The docs table's rows (docs/architecture.md, "Least privilege"): user, job, publish,
 * publish denied, subscribe, may reply. Subjects in backticks, comma-separated.
 */
export function permissionDocRows(table: readonly NatsUserPermissions[]): string[][] {
  const list = (subjects: readonly string[]) =>
    subjects.length === 0 ? '-' : subjects.map((s) => `\`${s}\``).join(', ');
  return table.map((p) => [
    `\`${p.user}\``,
    p.job,
    list(p.publish),
    list(p.publishDeny),
    list(p.subscribe),
    p.allowResponses ? 'yes' : 'no',
  ]);
}

export const PERMISSION_DOC_HEADER = [
  'user',
  'job',
  'publish (incl. JetStream API, acks, KV)',
  'publish denied',
  'subscribe',
  'replies',
];
