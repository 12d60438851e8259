/**
 * Generates docs/protocol/<frame>.schema.json (JSON Schema 2020-12) from the zod schemas
 * in core/protocol.ts. Run `node --import tsx services/gateway/gen-protocol-docs.ts`
 * after changing the protocol; tests/unit/gateway/protocol-docs.test.ts fails while
 * the committed files differ from what this produces.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { FRAME_SCHEMAS } from './core/protocol.js';

export const PROTOCOL_DIR = path.resolve(import.meta.dirname, '../../docs/protocol');

/**
 * File name → file text, for every frame, formatted as the repository's prettier would
 * (prettier is a dev dependency: loaded only here, never by the gateway).
 */
export async function protocolSchemaFiles(): Promise<Map<string, string>> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(path.join(PROTOCOL_DIR, 'x.json'))) ?? {};
  const files = new Map<string, string>();
  for (const [stem, schema] of Object.entries(FRAME_SCHEMAS)) {
    const json = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      // What a client may send (optional fields optional), what the server sends.
      io: stem.startsWith('client-') ? 'input' : 'output',
    });
    const file = `${stem}.schema.json`;
    const text = JSON.stringify({ $id: file, ...json }, null, 2);
    files.set(file, await prettier.format(text, { ...options, parser: 'json' }));
  }
  return files;
}

export async function writeProtocolSchemas(dir = PROTOCOL_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, text] of await protocolSchemaFiles()) {
    await writeFile(path.join(dir, file), text);
    written.push(file);
  }
  return written;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const files = await writeProtocolSchemas();
  process.stdout.write(`wrote ${String(files.length)} schemas to ${PROTOCOL_DIR}\n`);
}
