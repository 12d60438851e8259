import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../services/common/logger.js';

/** A real pino logger whose JSON lines the test can read back. */
export function captureLogger(
  service: string,
  level = 'info',
): { log: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { log: createLogger(service, level, sink), lines: () => lines };
}
