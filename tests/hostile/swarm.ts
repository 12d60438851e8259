/**
 * The misbehaving clients of the hostile-clients test, in a child process of their own
 * (so their work cannot starve the well-behaved client in the test process). Started by
 * hostile-clients.test.ts with fork(); `start` opens every group and answers `ready`,
 * `drain` stops the loops, lets the never-readers and slow readers read what is theirs,
 * checks what each client got against the documented protocol, and answers `report`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';

export interface SwarmPlan {
  url: string;
  /** Read at a byte budget below the data rate: degraded (conflated, slow_client gaps) or 4000. */
  slowReaders: number;
  /** Subscribe to everything, then never read: must end with 4000. */
  neverReaders: number;
  /** Floods of garbage, reconnecting: error frames, then 4008, every time. */
  flooders: number;
  /** Frames past GATEWAY_MAX_FRAME_BYTES (FRAME_TOO_LARGE + 1009) and past 64x it (1009). */
  oversized: number;
  /** A 60 KB frame sent 2 KB at a time over raw TCP: held, then FRAME_TOO_LARGE + 1009. */
  tricklers: number;
  /** subscribe/unsubscribe churn within the rate limit: every request answered, no error. */
  subChurners: number;
  /** connect, subscribe, snapshot, close/terminate/half handshake, again. */
  connChurners: number;
  /** Conflated ticker readers that behave: nothing but updates. */
  idle: number;
  /**
   * Mid-load, resume from offset 1 (older than the ring: a history reader) and never
   * read: must end with 4000, not hold a history reader (RESUME_MAX_CONCURRENT) for good.
   */
  stalledResumers: number;
  /** A second later, resume from offset 1 and read: the replay must start before the drain. */
  historyResumers: number;
  /** When the two resumer groups start, after `start`. */
  resumeAfterMs: number;
  maxFrameBytes: number;
}

export type ToSwarm =
  | { cmd: 'start'; plan: SwarmPlan }
  | { cmd: 'drain'; lastOffset: Record<string, number>; trades: Record<string, number[]> };

export interface GroupReport {
  clients: number;
  /** Connections made (churning groups reconnect). */
  connections: number;
  /** Close codes seen by the clients, with counts ("open" for still open). */
  outcomes: Record<string, number>;
  /** Error frames received, by code. */
  errors: Record<string, number>;
  /** Broken promises of the protocol: must be empty. */
  violations: string[];
  notes: Record<string, number>;
}

export type FromSwarm =
  | { ev: 'ready'; connected: number; nofile: number }
  | { ev: 'report'; groups: Record<string, GroupReport>; peakOpen: number };

type Frame = Record<string, unknown> & { op?: string };

const PRODUCTS = ['BTC-USD', 'ETH-USD'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let stopping = false;
let open = 0;
let peakOpen = 0;

function group(clients: number): GroupReport {
  return { clients, connections: 0, outcomes: {}, errors: {}, violations: [], notes: {} };
}
function bump(rec: Record<string, number>, key: string, n = 1): void {
  rec[key] = (rec[key] ?? 0) + n;
}
function violate(g: GroupReport, what: string): void {
  if (g.violations.length < 20) g.violations.push(what);
  else bump(g.notes, 'more_violations');
}

/** A `ws` client that resolves once open; counts itself in `open` while it is. */
function connect(url: string, g: GroupReport, bulk = false): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // `bulk`: a client that reads a backlog only to reach its close frame.
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: bulk });
    ws.once('open', () => {
      g.connections++;
      peakOpen = Math.max(peakOpen, ++open);
      ws.once('close', () => open--);
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`upgrade refused: ${String(res.statusCode)}`));
    });
    ws.on('error', (err) => {
      reject(err);
    });
  });
}

function closed(ws: WebSocket, timeoutMs: number): Promise<number | 'timeout'> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      resolve('timeout');
    }, timeoutMs);
    ws.once('close', (code: number) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/** Text of a message: `ws` gives a Buffer (no fragments or ArrayBuffers are asked for). */
function textOf(data: WebSocket.RawData): string {
  return (data as Buffer).toString('utf8');
}

function parse(data: WebSocket.RawData): Frame | undefined {
  try {
    return JSON.parse(textOf(data)) as Frame;
  } catch {
    return undefined;
  }
}

/**
 * The fields before `data` of an update or snapshot frame (the gateway writes them first,
 * in a fixed order: services/gateway/core/frames.ts), without parsing a 4 KB book; every
 * other frame is small and parsed whole.
 */
function headOf(data: Buffer): Frame | undefined {
  const head = data.toString('utf8', 0, Math.min(data.length, 200));
  const at = head.indexOf(',"data":');
  if (at < 0) return parse(data);
  try {
    return JSON.parse(`${head.slice(0, at)}}`) as Frame;
  } catch {
    return undefined;
  }
}

// --- slow readers ---

class SlowReader {
  ws!: WebSocket;
  readonly trades = new Set<number>();
  readonly gaps: [number, number][] = [];
  snapshotTrades = 0;
  lastOffset = 0;
  lastUpdate = 0;
  closeCode: number | undefined;
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private throttled = true;
  private ponged = false;

  constructor(
    private readonly g: GroupReport,
    readonly product: string,
    private readonly budgetPerQuarterS: number,
  ) {}

  async start(url: string): Promise<void> {
    this.ws = await connect(url, this.g);
    this.ws.on('message', (data) => {
      this.onData(data);
    });
    this.ws.on('close', (code: number) => {
      this.closeCode = code;
    });
    this.ws.send(
      JSON.stringify({
        op: 'subscribe',
        channels: ['trades', 'ticker', 'book'],
        products: [this.product],
      }),
    );
    this.timer = setInterval(() => {
      this.bytes = 0;
      if (this.throttled) this.ws.resume();
    }, 250);
  }

  private onData(data: WebSocket.RawData): void {
    this.bytes += (data as Buffer).length;
    if (this.throttled && this.bytes >= this.budgetPerQuarterS) this.ws.pause();
    const f = headOf(data as Buffer);
    if (f === undefined) {
      violate(this.g, 'a frame that is not JSON');
      return;
    }
    const offset = typeof f.offset === 'number' ? f.offset : undefined;
    if (f.op === 'pong' && f.id === 'end') this.ponged = true;
    if (f.op === 'error') bump(this.g.errors, String(f.code));
    if (f.op === 'snapshot' && f.channel === 'trades') this.snapshotTrades = offset ?? 0;
    // Updates come in offset order. A slow_client gap does not: it sits where its first
    // dropped trade was and carries the last one's offset (outbox design, see
    // services/gateway/core/backpressure.ts).
    if (f.op === 'update') {
      if (offset === undefined || offset <= this.lastUpdate) {
        violate(
          this.g,
          `update offsets not increasing: ${String(offset)} after ${String(this.lastUpdate)}`,
        );
      }
      this.lastUpdate = offset ?? this.lastUpdate;
    }
    if (f.op === 'update' && f.channel === 'trades' && offset !== undefined)
      this.trades.add(offset);
    if (f.op === 'update' && f.conflated === true) bump(this.g.notes, 'conflated_updates');
    if (f.op === 'gap' && f.reason === 'slow_client') {
      this.gaps.push([Number(f.from_offset), Number(f.to_offset)]);
      bump(this.g.notes, 'slow_client_gaps');
    }
    if (offset !== undefined) this.lastOffset = Math.max(this.lastOffset, offset);
  }

  /** Stop throttling and read until caught up with `last` or closed. */
  async drain(last: number, trades: readonly number[]): Promise<void> {
    clearInterval(this.timer);
    this.throttled = false;
    this.ws.resume();
    const deadline = Date.now() + 20_000;
    while (this.closeCode === undefined && this.lastOffset < last && Date.now() < deadline)
      await sleep(50);
    // Caught up, but a close frame may follow the data: a ping tells (pong, or the close).
    // (A method, not the field: the socket's events change it while this awaits.)
    const open = () => this.closeCode === undefined;
    if (open() && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ op: 'ping', id: 'end' }));
      const answerBy = Date.now() + 15_000;
      while (!this.ponged && open() && Date.now() < answerBy) await sleep(50);
      if (!this.ponged && open()) violate(this.g, 'no answer to a ping');
    }
    const outcome = this.closeCode === undefined ? 'open' : String(this.closeCode);
    bump(this.g.outcomes, `${this.product}:${outcome}`);
    if (outcome !== 'open' && outcome !== '4000') violate(this.g, `closed with ${outcome}`);
    if (outcome === 'open' && this.lastOffset < last)
      violate(
        this.g,
        `${this.product} reader open but stuck at ${String(this.lastOffset)} of ${String(last)} (${String(this.trades.size)} trades, ${String(this.gaps.length)} gaps)`,
      );
    // Nothing silently lost: each trade up to what it heard of was delivered or in a gap.
    for (const t of trades) {
      if (t <= this.snapshotTrades || t > this.lastOffset) continue;
      if (this.trades.has(t)) continue;
      if (this.gaps.some(([from, to]) => from <= t && t <= to)) continue;
      violate(this.g, `${this.product} trade @${String(t)} neither delivered nor announced`);
      break;
    }
    this.ws.terminate();
  }
}

// --- never-readers ---

class NeverReader {
  ws!: WebSocket;
  frames = 0;
  closeCode: number | undefined;
  constructor(private readonly g: GroupReport) {}

  async start(url: string): Promise<void> {
    this.ws = await connect(url, this.g, true);
    this.ws.on('close', (code: number) => {
      this.closeCode = code;
    });
    await new Promise<void>((resolve) => {
      let paused = false;
      this.ws.on('message', (data) => {
        this.frames++;
        // Heartbeats may come first; the answer to the subscribe is the cue to stop.
        if (paused || parse(data)?.op !== 'subscribed') return;
        paused = true;
        this.ws.pause();
        resolve();
      });
      this.ws.send(
        JSON.stringify({
          op: 'subscribe',
          channels: ['trades', 'ticker', 'book'],
          products: PRODUCTS,
        }),
      );
    });
  }

  /** Reads its mail at last: the backlog, then the close frame. */
  async drain(): Promise<void> {
    this.ws.resume();
    const code = this.closeCode ?? (await closed(this.ws, 20_000));
    bump(this.g.outcomes, String(code));
    if (code !== 4000) violate(this.g, `ended with ${String(code)}, not 4000`);
    bump(this.g.notes, 'frames_read', this.frames);
    this.ws.terminate();
  }
}

// --- garbage flooders ---

const GARBAGE: (string | Buffer)[] = [
  'not json at all',
  '{"op":"subscribe"}',
  '{"op":"subscribe","channels":["candles"],"products":["BTC-USD"]}',
  '{"op":"subscribe","channels":"ticker","products":["BTC-USD"]}',
  '{"op":"subscribe","channels":["ticker"],"products":["DOGE-EUR"]}',
  '{"op":"subscribe","channels":["ticker"],"products":["BTC-USD"],"conflate_ms":1e400}',
  `{"op":"ping","id":${'['.repeat(900)}${']'.repeat(900)}}`,
  '{"op":"unsubscribe","channels":[],"products":[]}',
  '{"op":"hack","__proto__":{"x":1}}',
  `{"op":"subscribe","channels":["ticker"],"products":["BTC-USD"],"from":{"BTC-USD":123456789012345678901234567890}}`,
  '\u0000\u0001\u0002',
  Buffer.from([0xde, 0xad, 0xbe, 0xef]),
  '123456789012345678901234567890',
  '{"op":null}',
];

async function floodCycle(url: string, g: GroupReport): Promise<void> {
  let ws: WebSocket;
  try {
    ws = await connect(url, g);
  } catch (err) {
    violate(g, `flooder could not connect: ${String(err)}`);
    return;
  }
  let errors = 0;
  ws.on('message', (data) => {
    const f = parse(data);
    if (f?.op !== 'error') return;
    errors++;
    bump(g.errors, String(f.code));
  });
  const done = closed(ws, 15_000);
  for (let i = 0; i < 120 && ws.readyState === WebSocket.OPEN; i++) {
    const frame = GARBAGE[i % GARBAGE.length] as string | Buffer;
    ws.send(frame, { binary: typeof frame !== 'string' });
  }
  const code = await done;
  bump(g.outcomes, String(code));
  if (code !== 4008) violate(g, `flood ended with ${String(code)}, not 4008`);
  if (errors === 0) violate(g, 'flood got no error frame');
  ws.terminate();
}

// --- oversized frames ---

async function oversizedCycle(
  url: string,
  g: GroupReport,
  size: number,
  max: number,
): Promise<void> {
  let ws: WebSocket;
  try {
    ws = await connect(url, g);
  } catch (err) {
    violate(g, `could not connect: ${String(err)}`);
    return;
  }
  const errors: string[] = [];
  ws.on('message', (data) => {
    const f = parse(data);
    if (f?.op === 'error') {
      errors.push(String(f.code));
      bump(g.errors, String(f.code));
    }
  });
  const done = closed(ws, 15_000);
  ws.send(`{"op":"ping","id":"${'x'.repeat(size)}"}`);
  const code = await done;
  const kind = size > 64 * max ? 'huge' : 'large';
  bump(g.outcomes, `${kind}:${String(code)}`);
  if (code !== 1009) violate(g, `${kind} frame ended with ${String(code)}, not 1009`);
  // Up to 64x the limit the gateway says why first; past it `ws` cuts the socket.
  if (kind === 'large' && errors.join() !== 'FRAME_TOO_LARGE')
    violate(g, `large frame answered ${JSON.stringify(errors)}, not [FRAME_TOO_LARGE]`);
  ws.terminate();
}

/** Raw TCP: the upgrade by hand, then one masked text frame written a slice at a time. */
async function trickle(url: string, g: GroupReport, size: number): Promise<void> {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  socket.on('error', () => undefined);
  let buf = Buffer.alloc(0);
  let upgraded = false;
  const errors: string[] = [];
  let closeCode: number | undefined;
  const finished = new Promise<void>((resolve) => {
    socket.on('close', () => {
      resolve();
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.subarray(0, 12).toString().startsWith('HTTP/1.1 101'))
          violate(g, `upgrade refused: ${buf.subarray(0, 30).toString()}`);
        upgraded = true;
        g.connections++;
        buf = buf.subarray(end + 4);
      }
      // Server frames: unmasked, FIN set.
      for (;;) {
        if (buf.length < 2) return;
        const opcode = (buf[0] ?? 0) & 0x0f;
        let len = (buf[1] ?? 0) & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          at = 10;
        }
        if (buf.length < at + len) return;
        const payload = buf.subarray(at, at + len);
        buf = buf.subarray(at + len);
        if (opcode === 0x1) {
          const f = JSON.parse(payload.toString()) as Frame;
          if (f.op === 'error') {
            errors.push(String(f.code));
            bump(g.errors, String(f.code));
          }
        } else if (opcode === 0x8) {
          closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          socket.destroy();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  peakOpen = Math.max(peakOpen, ++open);
  socket.write(
    `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const payload = Buffer.from(`{"op":"ping","id":"${'y'.repeat(size - 22)}"}`);
  const mask = randomBytes(4);
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(payload.length), 2);
  mask.copy(header, 10);
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  socket.write(header);
  for (let i = 0; i < payload.length && !socket.destroyed; i += 2_000) {
    await sleep(200);
    socket.write(payload.subarray(i, i + 2_000));
  }
  const timeout = sleep(20_000);
  await Promise.race([finished, timeout]);
  open--;
  socket.destroy();
  bump(g.outcomes, String(closeCode ?? 'none'));
  if (closeCode !== 1009) violate(g, `trickled frame ended with ${String(closeCode)}, not 1009`);
  if (errors.join() !== 'FRAME_TOO_LARGE')
    violate(g, `trickled frame answered ${JSON.stringify(errors)}, not [FRAME_TOO_LARGE]`);
}

// --- subscribe/unsubscribe churn ---

class SubChurner {
  ws!: WebSocket;
  sent = 0;
  answered = 0;
  last: Record<string, number> = {};
  closeCode: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly g: GroupReport) {}

  async start(url: string): Promise<void> {
    this.ws = await connect(url, this.g);
    this.ws.on('close', (code: number) => {
      this.closeCode = code;
    });
    this.ws.on('message', (data) => {
      const f = parse(data);
      if (f === undefined) return;
      if (f.op === 'subscribed' && typeof f.id === 'number') this.answered++;
      if (f.op === 'error') bump(this.g.errors, String(f.code));
      if (typeof f.product === 'string' && typeof f.offset === 'number')
        this.last[f.product] = f.offset;
    });
    this.timer = setInterval(
      () => {
        this.step();
      },
      350 + Math.floor(Math.random() * 100),
    );
  }

  private step(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const id = ++this.sent;
    const products = id % 3 === 0 ? PRODUCTS : [PRODUCTS[id % 2] as string];
    if (id % 2 === 1) {
      const first = products[0] as string;
      const resume = id % 5 === 0 && this.last[first] !== undefined;
      this.ws.send(
        JSON.stringify({
          op: 'subscribe',
          channels: ['ticker', 'book'],
          products,
          conflate_ms: 1_000,
          ...(resume ? { from: { [first]: this.last[first] } } : {}),
          id,
        }),
      );
      if (resume) bump(this.g.notes, 'resumes');
    } else {
      this.ws.send(
        JSON.stringify({ op: 'unsubscribe', channels: ['ticker', 'book'], products, id }),
      );
    }
  }

  async drain(): Promise<void> {
    clearInterval(this.timer);
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ op: 'ping', id: 'end' }));
      const deadline = Date.now() + 15_000;
      while (this.answered < this.sent && this.closeCode === undefined && Date.now() < deadline)
        await sleep(50);
    }
    bump(this.g.outcomes, this.closeCode === undefined ? 'open' : String(this.closeCode));
    if (this.closeCode !== undefined)
      violate(this.g, `churner closed with ${String(this.closeCode)}`);
    if (this.answered !== this.sent)
      violate(this.g, `${String(this.sent)} requests, ${String(this.answered)} answered`);
    bump(this.g.notes, 'requests', this.sent);
    this.ws.terminate();
  }
}

// --- connection churn ---

async function connCycle(url: string, g: GroupReport, i: number): Promise<void> {
  const mode = i % 4;
  if (mode === 3) {
    // Half a handshake, then gone.
    const u = new URL(url);
    const s = net.connect(Number(u.port), u.hostname);
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', resolve));
    s.write(`GET /ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n`);
    await sleep(100);
    s.destroy();
    bump(g.outcomes, 'half_handshake');
    return;
  }
  let ws: WebSocket;
  try {
    ws = await connect(url, g);
  } catch (err) {
    violate(g, `could not connect: ${String(err)}`);
    return;
  }
  if (mode === 2) {
    ws.terminate();
    bump(g.outcomes, 'terminated_at_once');
    return;
  }
  const snapshot = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => {
      resolve(false);
    }, 15_000);
    ws.on('message', (data) => {
      const f = parse(data);
      if (f?.op === 'error') bump(g.errors, String(f.code));
      if (f?.op === 'snapshot') {
        clearTimeout(t);
        resolve(true);
      }
    });
  });
  ws.send(JSON.stringify({ op: 'subscribe', channels: ['trades'], products: ['BTC-USD'] }));
  if (!(await snapshot)) violate(g, 'no snapshot within 15 s');
  if (mode === 0) {
    ws.close();
    const code = await closed(ws, 10_000);
    bump(g.outcomes, String(code));
  } else {
    ws.terminate();
    bump(g.outcomes, 'terminated');
  }
}

// --- idle, well-behaved ---

class Idle {
  ws!: WebSocket;
  updates = 0;
  closeCode: number | undefined;
  constructor(private readonly g: GroupReport) {}
  async start(url: string): Promise<void> {
    this.ws = await connect(url, this.g);
    this.ws.on('close', (code: number) => {
      this.closeCode = code;
    });
    this.ws.on('message', (data) => {
      const f = parse(data);
      if (f?.op === 'update') this.updates++;
      if (f?.op === 'error') bump(this.g.errors, String(f.code));
    });
    this.ws.send(
      JSON.stringify({
        op: 'subscribe',
        channels: ['ticker'],
        products: ['BTC-USD'],
        conflate_ms: 1_000,
      }),
    );
  }
  drain(): void {
    bump(this.g.outcomes, this.closeCode === undefined ? 'open' : String(this.closeCode));
    if (this.closeCode !== undefined)
      violate(this.g, `idle client closed with ${String(this.closeCode)}`);
    if (this.updates < 3) violate(this.g, `idle client got ${String(this.updates)} updates`);
    bump(this.g.notes, 'updates', this.updates);
    this.ws.terminate();
  }
}

// --- resumers: from offset 1, older than the gateway's ring ---

class Resumer {
  ws!: WebSocket;
  closeCode: number | undefined;
  firstUpdateAt: number | undefined;
  lastUpdate = 0;
  constructor(
    private readonly g: GroupReport,
    readonly reads: boolean,
  ) {}

  async start(url: string): Promise<void> {
    this.ws = await connect(url, this.g);
    this.ws.on('close', (code: number) => {
      this.closeCode = code;
    });
    this.ws.on('message', (data) => {
      const f = parse(data);
      if (f?.op === 'error') bump(this.g.errors, String(f.code));
      if (f?.op !== 'update' || typeof f.offset !== 'number') return;
      this.firstUpdateAt ??= Date.now();
      if (f.offset <= this.lastUpdate) violate(this.g, 'replay not in offset order');
      this.lastUpdate = f.offset;
    });
    const product = this.reads ? 'BTC-USD' : 'ETH-USD';
    this.ws.send(
      JSON.stringify({
        op: 'subscribe',
        channels: ['trades', 'ticker', 'book'],
        products: [product],
        from: { [product]: 1 },
      }),
    );
    // A stalled resumer stops reading once its replay is under way.
    if (!this.reads) {
      this.ws.once('message', () => {
        this.ws.pause();
      });
    }
  }

  /** `drainAt`: when the drain began; a reading resumer's replay must have started before. */
  async drain(drainAt: number, last: number): Promise<void> {
    this.ws.resume();
    if (!this.reads) {
      const code = this.closeCode ?? (await closed(this.ws, 20_000));
      bump(this.g.outcomes, `stalled:${String(code)}`);
      if (code !== 4000) violate(this.g, `a stalled resume ended with ${String(code)}, not 4000`);
    } else {
      if (this.firstUpdateAt === undefined || this.firstUpdateAt > drainAt)
        violate(this.g, 'a reading resumer got nothing before the drain: no history reader free');
      const deadline = Date.now() + 20_000;
      while (this.lastUpdate < last && this.closeCode === undefined && Date.now() < deadline)
        await sleep(50);
      bump(
        this.g.outcomes,
        `reading:${this.closeCode === undefined ? 'open' : String(this.closeCode)}`,
      );
      if (this.lastUpdate < last)
        violate(this.g, `a reading resumer stuck at ${String(this.lastUpdate)}`);
    }
    this.ws.terminate();
  }
}

// --- the swarm ---

/** Opens `n` clients `batch` at a time (999 at once would be a connection storm of our own). */
async function inBatches<T>(n: number, make: (i: number) => Promise<T>, batch = 50): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(
      ...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => make(i + k)))),
    );
  }
  return out;
}

/** Runs `cycle` again and again until the drain, at most every `pauseMs`. */
async function loop(pauseMs: number, cycle: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; !stopping; i++) {
    await cycle(i);
    await sleep(pauseMs * (0.5 + Math.random()));
  }
}

function nofile(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? 0);
}

function main(): void {
  const send = (m: FromSwarm) => process.send?.(m);
  let running: {
    plan: SwarmPlan;
    g: Record<string, GroupReport>;
    slow: SlowReader[];
    never: NeverReader[];
    churn: SubChurner[];
    idle: Idle[];
    resumers: Resumer[];
    loops: Promise<void>[];
  };
  process.on('message', (m: ToSwarm) => {
    void (async () => {
      if (m.cmd === 'start') {
        const p = m.plan;
        const g = {
          slowReaders: group(p.slowReaders),
          neverReaders: group(p.neverReaders),
          flooders: group(p.flooders),
          oversized: group(p.oversized),
          tricklers: group(p.tricklers),
          subChurners: group(p.subChurners),
          connChurners: group(p.connChurners),
          idle: group(p.idle),
          resumers: group(p.stalledResumers + p.historyResumers),
        };
        const never = await inBatches(p.neverReaders, async () => {
          const c = new NeverReader(g.neverReaders);
          await c.start(p.url);
          return c;
        });
        const slow = await inBatches(p.slowReaders, async (i) => {
          // One in five reads ETH-USD (large books) at 2 KB per quarter second, far below
          // its rate: degraded, then 4000 unless the drain comes first. The others read
          // BTC-USD at 16 KB, a little below its rate: the kernel's buffers absorb that.
          const c =
            i % 5 === 0
              ? new SlowReader(g.slowReaders, 'ETH-USD', 2_000)
              : new SlowReader(g.slowReaders, 'BTC-USD', 16_000);
          await c.start(p.url);
          return c;
        });
        const idle = await inBatches(p.idle, async () => {
          const c = new Idle(g.idle);
          await c.start(p.url);
          return c;
        });
        const churn = await inBatches(p.subChurners, async () => {
          const c = new SubChurner(g.subChurners);
          await c.start(p.url);
          return c;
        });
        const loops = [
          ...Array.from({ length: p.flooders }, () =>
            loop(3_000, () => floodCycle(p.url, g.flooders)),
          ),
          ...Array.from({ length: p.oversized }, (_, k) =>
            loop(1_000, () =>
              oversizedCycle(
                p.url,
                g.oversized,
                k % 2 === 0 ? 10_000 : 64 * p.maxFrameBytes + 1_000,
                p.maxFrameBytes,
              ),
            ),
          ),
          ...Array.from({ length: p.tricklers }, () => trickle(p.url, g.tricklers, 60_000)),
          ...Array.from({ length: p.connChurners }, () =>
            loop(500, (i) => connCycle(p.url, g.connChurners, i)),
          ),
        ];
        const resumers: Resumer[] = [];
        loops.push(
          (async () => {
            await sleep(p.resumeAfterMs);
            resumers.push(
              ...(await inBatches(p.stalledResumers, async () => {
                const c = new Resumer(g.resumers, false);
                await c.start(p.url);
                return c;
              })),
            );
            await sleep(1_000);
            resumers.push(
              ...(await inBatches(p.historyResumers, async () => {
                const c = new Resumer(g.resumers, true);
                await c.start(p.url);
                return c;
              })),
            );
          })(),
        );
        running = { plan: p, g, slow, never, churn, idle, resumers, loops };
        // Let the churning groups make their first connections.
        await sleep(1_000);
        send({ ev: 'ready', connected: open, nofile: nofile() });
      } else {
        stopping = true;
        const drainAt = Date.now();
        const r = running;
        const resumeDrain = (c: Resumer) => c.drain(drainAt, m.lastOffset['BTC-USD'] ?? 0);
        // First the clients whose close frame waits behind megabytes in the kernel: the
        // gateway cuts a connection 30 s after closing it (`ws`'s close timeout).
        await Promise.all([
          ...r.never.map((c) => c.drain()),
          ...r.resumers.filter((c) => !c.reads).map(resumeDrain),
          ...r.slow.map((c) => c.drain(m.lastOffset[c.product] ?? 0, m.trades[c.product] ?? [])),
        ]);
        await Promise.all(r.loops);
        await Promise.all([
          ...r.resumers.filter((c) => c.reads).map(resumeDrain),
          ...r.churn.map((c) => c.drain()),
        ]);
        for (const c of r.idle) c.drain();
        send({ ev: 'report', groups: r.g, peakOpen });
        setTimeout(() => process.exit(0), 100);
      }
    })().catch((err: unknown) => {
      process.stderr.write(
        `swarm failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    });
  });
}

if (process.send !== undefined) main();
