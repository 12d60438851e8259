import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { Logger } from '../../common/logger.js';
import { describeError } from '../../common/errors.js';
import { sleep } from '../../common/lifecycle.js';
import { nowUs } from '../../common/schemas/headers.js';
import { backoffDelay, type BackoffPolicy } from '../core/backoff.js';

/**
 * The WebSocket shell of a feed: connect, reconnect with capped exponential backoff and
 * jitter, protocol pings, a watchdog for silent stalls, and pause/resume for
 * backpressure. What to subscribe and what a frame means is the caller's.
 */
export interface FeedConnectionOptions {
  url: string;
  log: Logger;
  backoff: BackoffPolicy;
  /** No frame for this long: stale, reconnect. */
  staleMs: number;
  pingMs: number;
  /** Max WebSocket message; full-depth snapshots are several MB. */
  maxPayload: number;
  /** Waited on before each connect (e.g. until NATS can take data again). */
  beforeConnect?: () => Promise<void>;
  onOpen(connId: string): void;
  onFrame(data: Buffer, recvUs: number): void;
  onStale(connId: string): void;
  onClose(info: { connId: string; code: number; reason: string; cause: CloseCause }): void;
}

export type CloseCause =
  'remote' | 'stale' | 'dead_peer' | 'error' | 'requested' | 'sequence_gap' | 'stopping';

/** A graceful close that the server does not answer is cut after this long. */
const CLOSE_GRACE_MS = 5_000;

export class FeedConnection {
  private ws: WebSocket | undefined;
  private connId = '';
  private lastFrameAt = 0;
  private lastPongAt = 0;
  private lastPingAt = 0;
  private paused = false;
  private attempt = 0;
  private closeCause: CloseCause = 'remote';
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly opts: FeedConnectionOptions) {}

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get connectionId(): string {
    return this.connId;
  }

  get millisSinceLastFrame(): number {
    return this.lastFrameAt === 0 ? 0 : Date.now() - this.lastFrameAt;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Sends a JSON message on the open connection; false when not open. */
  send(msg: unknown): boolean {
    if (!this.isOpen || this.ws === undefined) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Stop reading the socket (backpressure); the watchdog does not blame the feed meanwhile. */
  pause(): void {
    this.paused = true;
    this.ws?.pause();
  }

  resume(): void {
    this.paused = false;
    this.lastFrameAt = Date.now();
    this.ws?.resume();
  }

  /** A successful subscribe: the next reconnect starts from the shortest delay again. */
  markHealthy(): void {
    this.attempt = 0;
  }

  /**
   * Drop the connection (the loop reconnects). `graceful`: send a close frame and keep
   * reading until the server answers, so every frame it sent before is still delivered.
   */
  reconnect(cause: CloseCause, graceful = false): void {
    this.closeCause = cause;
    const ws = this.ws;
    if (ws === undefined) return;
    if (!graceful || ws.readyState !== WebSocket.OPEN) {
      ws.terminate();
      return;
    }
    ws.close(1000, cause);
    setTimeout(() => {
      ws.terminate();
    }, CLOSE_GRACE_MS).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.closeCause = 'stopping';
    if (this.ws !== undefined && this.ws.readyState === WebSocket.OPEN)
      this.ws.close(1000, 'shutting down');
    else this.ws?.terminate();
    await this.loop;
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  private async run(): Promise<void> {
    while (!this.isStopped()) {
      await this.opts.beforeConnect?.();
      if (this.isStopped()) break;
      await this.connectOnce();
      if (this.isStopped()) break;
      const delay = backoffDelay(this.opts.backoff, this.attempt++, Math.random);
      this.opts.log.info({ delayMs: delay, attempt: this.attempt }, 'feed reconnecting');
      await sleep(delay, this.abort.signal);
    }
  }

  private connectOnce(): Promise<void> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.opts.url, {
        maxPayload: this.opts.maxPayload,
        handshakeTimeout: 10_000,
        perMessageDeflate: false,
        // A text frame that is not UTF-8 would fail the whole connection (RFC 6455 §8.1:
        // `ws` closes with 1007), losing what follows until the resubscribe. The bytes go
        // on as received instead: MD_DLQ `unparsable`, or MD_RAW when they still parse.
        skipUTF8Validation: true,
      });
      this.ws = ws;
      this.closeCause = 'remote';
      let opened = false;
      let timer: NodeJS.Timeout | undefined;
      const connId = randomBytes(16).toString('hex');

      ws.on('open', () => {
        opened = true;
        this.connId = connId;
        this.lastFrameAt = Date.now();
        this.lastPongAt = Date.now();
        this.lastPingAt = Date.now();
        this.paused = false;
        this.opts.log.info({ conn: connId, url: this.opts.url }, 'feed connected');
        timer = setInterval(
          () => {
            this.watchdog(ws, connId);
          },
          Math.min(1_000, this.opts.staleMs / 4),
        );
        this.opts.onOpen(connId);
      });
      ws.on('message', (data: Buffer) => {
        this.lastFrameAt = Date.now();
        this.opts.onFrame(data, nowUs());
      });
      ws.on('pong', () => {
        this.lastPongAt = Date.now();
      });
      ws.on('error', (err) => {
        if (this.closeCause === 'remote') this.closeCause = 'error';
        this.opts.log.warn({ conn: connId, err: describeError(err) }, 'feed socket error');
      });
      ws.on('close', (code, reasonBuf) => {
        if (timer !== undefined) clearInterval(timer);
        const reason = reasonBuf.toString();
        if (opened) {
          this.opts.log.warn({ conn: connId, code, reason, cause: this.closeCause }, 'feed closed');
          this.opts.onClose({ connId, code, reason, cause: this.closeCause });
        }
        resolve();
      });
    });
  }

  private watchdog(ws: WebSocket, connId: string): void {
    const now = Date.now();
    if (this.paused) {
      this.lastFrameAt = now;
      this.lastPongAt = now;
    }
    if (now - this.lastFrameAt > this.opts.staleMs) {
      this.opts.log.warn({ conn: connId, silentMs: now - this.lastFrameAt }, 'feed stale');
      this.opts.onStale(connId);
      this.closeCause = 'stale';
      ws.terminate();
      return;
    }
    if (now - this.lastPongAt > 2 * this.opts.pingMs + 1_000) {
      this.opts.log.warn({ conn: connId }, 'feed peer not answering pings');
      this.closeCause = 'dead_peer';
      ws.terminate();
      return;
    }
    if (now - this.lastPingAt >= this.opts.pingMs) {
      this.lastPingAt = now;
      ws.ping();
    }
  }
}
