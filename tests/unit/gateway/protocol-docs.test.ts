import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_DIR, protocolSchemaFiles } from '../../../services/gateway/gen-protocol-docs.js';
import { CLOSE, ERROR_CODES, FRAME_SCHEMAS } from '../../../services/gateway/core/protocol.js';

describe('docs/protocol', () => {
  it('the committed JSON Schemas are what the zod schemas generate (run gen-protocol-docs.ts)', async () => {
    const generated = await protocolSchemaFiles();
    const committed = (await readdir(PROTOCOL_DIR)).filter((f) => f.endsWith('.schema.json'));
    expect(committed.sort()).toEqual([...generated.keys()].sort());
    for (const [file, text] of generated) {
      expect(await readFile(path.join(PROTOCOL_DIR, file), 'utf8'), file).toBe(text);
    }
  });

  it('docs/protocol.md names every frame, error code and close code', async () => {
    const md = await readFile(path.join(PROTOCOL_DIR, '..', 'protocol.md'), 'utf8');
    for (const stem of Object.keys(FRAME_SCHEMAS))
      expect(md).toContain(`protocol/${stem}.schema.json`);
    for (const code of ERROR_CODES) expect(md).toContain(code);
    for (const code of Object.values(CLOSE)) expect(md).toContain(String(code));
  });
});
