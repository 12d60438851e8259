import WebSocket from 'ws';

export type Json = Record<string, unknown>;

/** A plain `ws` client that records every frame. */
export class FeedClient {
  readonly frames: Json[] = [];
  /** The JSON frames as received, byte for byte. */
  readonly texts: string[] = [];
  /** Frames that were not JSON (malformed fault). */
  readonly garbage: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      try {
        this.frames.push(JSON.parse(text) as Json);
        this.texts.push(text);
      } catch {
        this.garbage.push(text);
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        this.wake();
      });
    });
    ws.on('error', () => undefined);
  }

  static connect(url: string): Promise<FeedClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const client = new FeedClient(ws);
      ws.once('open', () => {
        resolve(client);
      });
      ws.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  ofType(type: string): Json[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Advanced Trade frames of one channel. */
  ofChannel(channel: string): Json[] {
    return this.frames.filter((f) => f.channel === channel);
  }

  /** Resolves once `cond` holds (checked on every frame), rejects after `ms`. */
  async until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** Polls state outside a client (the control log) every 20 ms. */
export async function eventually(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
