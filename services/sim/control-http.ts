/**
 * HTTP routes beside the WebSocket upgrade, on the same port:
 *   POST /control/faults   merge a fault update (JSON, see README), answers the active faults
 *   GET  /control/faults   the active faults
 *   GET  /control/log      the trade oracle (?product=BTC-USD for one product)
 *   GET  /healthz /readyz /metrics
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { ControlLogJson } from './core/control-log.js';
import { FaultsUpdateSchema, type FaultsView, type FaultsUpdate } from './core/faults.js';

export interface ControlHandlers {
  registry: Registry;
  ready: () => boolean;
  setFaults: (update: FaultsUpdate) => FaultsView;
  faults: () => FaultsView;
  log: () => ControlLogJson;
  stats: () => Record<string, unknown>;
}

const MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error(`body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export async function handleControl(
  req: IncomingMessage,
  res: ServerResponse,
  h: ControlHandlers,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim');
  const route = `${req.method ?? 'GET'} ${url.pathname}`;
  switch (route) {
    case 'GET /healthz':
      send(res, 200, { status: 'ok' });
      return;
    case 'GET /readyz':
      if (h.ready()) send(res, 200, { status: 'ready' });
      else send(res, 503, { status: 'not_ready', reason: 'shutting down' });
      return;
    case 'GET /metrics': {
      const body = await h.registry.metrics();
      res.writeHead(200, { 'content-type': h.registry.contentType });
      res.end(body);
      return;
    }
    case 'GET /control/faults':
      send(res, 200, h.faults());
      return;
    case 'POST /control/faults': {
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch (err) {
        send(res, 400, {
          code: 'BAD_REQUEST',
          message: `not JSON: ${err instanceof Error ? err.message : String(err)}`,
        });
        return;
      }
      const parsed = FaultsUpdateSchema.safeParse(json);
      if (!parsed.success) {
        send(res, 400, { code: 'BAD_REQUEST', message: z.prettifyError(parsed.error) });
        return;
      }
      send(res, 200, h.setFaults(parsed.data));
      return;
    }
    case 'GET /control/log': {
      const log = h.log();
      const product = url.searchParams.get('product');
      if (product !== null) {
        const one = log.products[product];
        send(res, 200, {
          products: one === undefined ? {} : { [product]: one },
          connections: log.connections,
        });
        return;
      }
      send(res, 200, log);
      return;
    }
    case 'GET /control/stats':
      send(res, 200, h.stats());
      return;
    default:
      send(res, 404, { code: 'NOT_FOUND', message: `no route ${route}` });
  }
}
