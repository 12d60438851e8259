import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry per service, with Node's default metrics under the service's prefix. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `ledgerflux_${service}_` });
  return registry;
}

export type Readiness = () => { ready: boolean; reason?: string };

export interface ProbeServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/metrics`, `/healthz` (the process is alive) and `/readyz` (it can do its job;
 * 503 with the reason otherwise). Other routes can be added with `extra`.
 */
export async function startProbeServer(opts: {
  port: number;
  host?: string;
  registry: Registry;
  readiness: Readiness;
  extra?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}): Promise<ProbeServer> {
  const server = createServer((req, res) => {
    void handleProbe(req, res, opts).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(err instanceof Error ? err.message : 'internal error');
    });
  });
  await listen(server, opts.port, opts.host ?? '0.0.0.0');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => closeServer(server),
  };
}

async function handleProbe(
  req: IncomingMessage,
  res: ServerResponse,
  opts: {
    registry: Registry;
    readiness: Readiness;
    extra?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  },
): Promise<void> {
  if (await serveProbe((req.url ?? '/').split('?')[0] ?? '/', res, opts)) return;
  if (opts.extra && (await opts.extra(req, res))) return;
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"code":"NOT_FOUND","message":"no such route"}');
}

/** Answers `/metrics`, `/healthz` and `/readyz`; false for any other path. */
export async function serveProbe(
  path: string,
  res: ServerResponse,
  opts: { registry: Registry; readiness: Readiness },
): Promise<boolean> {
  if (path === '/metrics') {
    const body = await opts.registry.metrics();
    res.writeHead(200, { 'content-type': opts.registry.contentType });
    res.end(body);
    return true;
  }
  if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return true;
  }
  if (path === '/readyz') {
    const r = opts.readiness();
    res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        r.ready ? { status: 'ready' } : { status: 'not_ready', reason: r.reason ?? 'starting' },
      ),
    );
    return true;
  }
  return false;
}

export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeAllConnections();
  });
}
