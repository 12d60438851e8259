import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURE_DIR = join(import.meta.dirname, '../../fixtures/coinbase-exchange');

/** The real recordings copied from shared/coinbase/samples (tests/fixtures/SOURCES.md). */
export const RECORDINGS = [
  'bennycode-coinbase-pro-node-ws-fixtures.jsonl',
  'ccxt-ccxt-pro-coinbaseexchange-comment-examples.jsonl',
  'crypto-crawler-crypto-msg-parser-tests-exchange.jsonl',
  'github-issues-error-frames.jsonl',
  'tardis-dev-tardis-node-mappers-test-exchange.jsonl',
  'unattributed-findstring-misc-exchange-heartbeats-tickers.jsonl',
  'unattributed-idx13986645148-exchange-2022-05.jsonl',
  'unattributed-idx59533280927-exchange-2026-08-25.jsonl',
] as const;

/** Every recorded Exchange frame in the fixtures, parsed, with its raw line. */
export function recordedFrames(): { file: string; raw: string; json: Record<string, unknown> }[] {
  const out: { file: string; raw: string; json: Record<string, unknown> }[] = [];
  for (const file of RECORDINGS) {
    for (const raw of readFileSync(join(FIXTURE_DIR, file), 'utf8').split('\n')) {
      if (raw.trim() === '') continue;
      out.push({ file, raw, json: JSON.parse(raw) as Record<string, unknown> });
    }
  }
  return out;
}
