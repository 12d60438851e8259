import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { closeServer, listen, serveProbe, type Readiness } from '../common/metrics.js';
import type { ApiKeys } from './auth.js';
import { errorFrame } from './core/frames.js';
import { CLOSE } from './core/protocol.js';
import type { GatewayMetrics } from './metrics.js';

/**
 * The gateway's one HTTP port: `/ws` (WebSocket upgrade), `/healthz`, `/readyz`,
 * `/metrics`, then the `routes` hook for the REST API and the web page (http-api.ts).
 * Upgrades are refused with 503 until the feed runs and past GATEWAY_MAX_CONNECTIONS;
 * a bad API key gets an UNAUTHORIZED error frame and close 4001 (a browser cannot read
 * the status of a refused upgrade).
 */

export interface RouteContext {
  /** Whether the request carries a valid `Authorization: Bearer` key (true when open). */
  authorized: boolean;
}

/** Extra HTTP routes: return true when the request was handled. */
export type ExtraRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RouteContext,
) => boolean | Promise<boolean>;

export interface WsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: Readiness;
  apiKeys: ApiKeys;
  /** Largest frame `ws` itself reads; bigger ones are cut with 1009 before parsing. */
  maxPayload: number;
  /** Why an upgrade is refused now (503), or undefined to accept. */
  refuse: () => string | undefined;
  onConnection: (ws: WebSocket, socket: Duplex, req: IncomingMessage) => void;
  routes?: ExtraRoutes | undefined;
  metrics: GatewayMetrics;
  log: Logger;
}

export interface WsServer {
  readonly port: number;
  /** No new connections; existing ones stay. */
  stopAccepting(): void;
  close(): Promise<void>;
}

export async function startWsServer(opts: WsServerOptions): Promise<WsServer> {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
  });
  let accepting = true;
  const server = createServer((req, res) => {
    void handleHttp(req, res, opts).catch((err: unknown) => {
      opts.log.warn({ err: describeError(err) }, 'http handler failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"code":"INTERNAL","message":"internal error"}');
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    if (pathOf(req) !== '/ws') {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    const why = accepting ? opts.refuse() : 'shutting down';
    if (why !== undefined) {
      opts.metrics.rejected.labels(why === 'too many connections' ? 'limit' : 'not_ready').inc();
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const authorized = opts.apiKeys.authorize(req, true);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (!authorized) {
        opts.metrics.errors.labels('UNAUTHORIZED').inc();
        opts.metrics.disconnects.labels('4001').inc();
        ws.send(errorFrame('UNAUTHORIZED', 'a valid API key is required').bytes, { binary: false });
        ws.close(CLOSE.unauthorized, 'unauthorized');
        return;
      }
      opts.onConnection(ws, socket, req);
    });
  });
  await listen(server, opts.port, opts.host);
  return {
    port: (server.address() as AddressInfo).port,
    stopAccepting: () => {
      accepting = false;
    },
    close: async () => {
      accepting = false;
      await closeServer(server);
      wss.close();
    },
  };
}

async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  opts: WsServerOptions,
): Promise<void> {
  const path = pathOf(req);
  if (await serveProbe(path, res, opts)) return;
  if (path === '/ws') {
    res.writeHead(426, { 'content-type': 'application/json', upgrade: 'websocket' });
    res.end('{"code":"UPGRADE_REQUIRED","message":"connect with a WebSocket client"}');
    return;
  }
  const ctx = { authorized: opts.apiKeys.authorize(req, false) };
  if (opts.routes !== undefined && (await opts.routes(req, res, ctx))) return;
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"code":"NOT_FOUND","message":"no such route"}');
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0] ?? '/';
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () =>
    socket.destroy(),
  );
}
