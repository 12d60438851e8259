import type { WebSocketLike } from '../../../services/client/types.js';

type Listener = (ev: never) => void;

/** A WebSocket stand-in the test drives: open(), receive(frame), drop(code). */
export class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  readonly sent: Record<string, unknown>[] = [];
  paused = false;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static last(): FakeSocket {
    const s = FakeSocket.all.at(-1);
    if (s === undefined) throw new Error('no socket yet');
    return s;
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000): void {
    this.drop(code);
  }

  open(): void {
    this.readyState = 1;
    this.emit('open', {});
  }

  receive(frame: object): void {
    this.emit('message', { data: JSON.stringify(frame) });
  }

  drop(code = 1006): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.emit('close', { code });
  }

  private emit(type: string, ev: object): void {
    for (const l of this.listeners.get(type) ?? []) (l as (e: object) => void)(ev);
  }
}

/** The same, with `ws`'s pause()/resume(). */
export class PausableSocket extends FakeSocket {
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }
}
