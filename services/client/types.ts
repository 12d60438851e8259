import type {
  Channel,
  GatewayErrorCode,
  SnapshotFrame,
  StatusFrame,
  UpdateFrame,
} from '../gateway/core/protocol.js';

/**
 * Types of the client library. Type-only imports from the gateway's protocol module:
 * nothing of it (nor of Node) reaches a browser bundle.
 */
export type { Channel, GatewayErrorCode } from '../gateway/core/protocol.js';

/**
 * The part of a WebSocket the library uses; the browser's WebSocket and `ws` both fit.
 * Method syntax on purpose (bivariant parameters), so both event types are accepted.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (ev: { code: number }) => void): void;
  /** `ws` only: stop reading the socket (TCP backpressure). */
  pause?(): void;
  resume?(): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface SubscribeRequest {
  channels: readonly Channel[];
  products: readonly string[];
  /** A snapshot before live data for products without a resume offset (default true). */
  snapshot?: boolean;
  /** Resume after these offsets (e.g. persisted from `offsets()` by an earlier run). */
  from?: Readonly<Record<string, number>>;
}

export interface ClientOptions {
  /** ws(s)://host:port/ws */
  url: string;
  /** The WebSocket class: the browser's (default: globalThis.WebSocket) or `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Or a factory, e.g. `(url) => new WebSocket(url, { headers: { authorization } })`. */
  createSocket?: (url: string) => WebSocketLike;
  /** Sent as `?api_key=` (browsers cannot set headers on a WebSocket). */
  apiKey?: string;
  /** Ask the gateway for at most one ticker/book update per interval. */
  conflateMs?: number;
  /** Reconnect backoff (full jitter); `false` disables reconnecting. */
  reconnect?: { initialMs?: number; maxMs?: number } | false;
  /** Reconnect when nothing, not even a heartbeat, arrived for this long (default 20 s). */
  staleMs?: number;
  /** events(): queued events at which reading pauses (default 10,000); resumes at half. */
  maxQueue?: number;
}

type Data<F, C> = F extends { channel: C; data: infer D } ? D : never;

export type SnapshotEvent = {
  [C in Channel]: {
    type: 'snapshot';
    channel: C;
    product: string;
    offset: number;
    data: Data<SnapshotFrame, C>;
  };
}[Channel];

export type UpdateEvent = {
  [C in Channel]: {
    type: 'update';
    channel: C;
    product: string;
    offset: number;
    seq: number;
    data: Data<UpdateFrame, C>;
    conflated: boolean;
  };
}[Channel];

export interface GapEvent {
  type: 'gap';
  product: string;
  offset: number;
  /** Inclusive trade ids. */
  from: number;
  to: number;
  reason: 'upstream_drop' | 'slow_client';
  fromOffset?: number;
  toOffset?: number;
  /** slow_client: the library is fetching the missing trades; they follow as updates. */
  recovering: boolean;
}

/** The trades of a slow_client gap were all delivered again. */
export interface RecoveredEvent {
  type: 'recovered';
  product: string;
  fromOffset: number;
  toOffset: number;
}

export interface StatusEvent {
  type: 'status';
  product: string;
  offset: number;
  event: StatusFrame['event'];
  reason: string;
}

export interface ErrorEvent {
  type: 'error';
  code: GatewayErrorCode;
  message: string;
  product?: string;
  retryAfterMs?: number;
}

export interface ConnectionEvent {
  type: 'connected' | 'disconnected';
  /** disconnected: the close code (1006 when the connection just broke). */
  code?: number;
  /** disconnected: whether the library will reconnect. */
  reconnecting?: boolean;
}

export type ClientEvent =
  | SnapshotEvent
  | UpdateEvent
  | GapEvent
  | RecoveredEvent
  | StatusEvent
  | ErrorEvent
  | ConnectionEvent;
