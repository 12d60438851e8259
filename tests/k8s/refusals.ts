import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import postgres from 'postgres';
import { expect } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { natsLoginOf } from './credentials.js';
import { dataOf } from './env.js';
import { clientUrls, type LocalNatsServer } from './local-nats.js';
import type { K8sObject } from './render.js';

/**
 * The negative half of the smoke run (issue 15): once every pod has worked with its own
 * credentials, each credential is tried on what is not its job, against the same servers.
 */

/** The message of what `attempt` throws (a refusal), or 'accepted'. */
export async function refusal(attempt: () => Promise<unknown>): Promise<string> {
  try {
    await attempt();
    return 'accepted';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The lines in which the servers logged a refused publish or subscription. */
export async function natsViolations(nats: readonly LocalNatsServer[]): Promise<string[]> {
  const texts = await Promise.all(nats.map((n) => readFile(path.join(n.dir, 'nats.log'), 'utf8')));
  return texts.flatMap((t) => t.split('\n').filter((l) => /violation/i.test(l)));
}

/**
 * No anonymous client; the gateway's pod credential cannot publish into md.raw nor create
 * a stream; the ingestor's cannot read MD_NORM. The servers log the refused publish.
 */
export async function expectNatsRefusals(
  objects: readonly K8sObject[],
  nats: readonly LocalNatsServer[],
  product: string,
): Promise<void> {
  const servers = clientUrls(nats);
  const log = createLogger('k8s-refusals', 'silent');
  const asPod = (command: string) =>
    connectNats({ servers, name: `k8s-${command}`, log, ...natsLoginOf(objects, command) });
  expect(await refusal(() => connectNats({ servers, name: 'anonymous', log }))).toMatch(
    /authorization violation/i,
  );
  const gateway = await asPod('gateway');
  const ingestor = await asPod('ingestor');
  try {
    const forged = jetstream(gateway, { timeout: 5_000 });
    expect(await refusal(() => forged.publish(`md.raw.coinbase.0.${product}`, 'forged'))).toMatch(
      /permissions violation/i,
    );
    const gatewayJsm = await jetstreamManager(gateway, { timeout: 5_000 });
    expect(
      await refusal(() => gatewayJsm.streams.add({ name: 'EVIL', subjects: ['evil.>'] })),
    ).toMatch(/permissions violation/i);
    const ingestorJsm = await jetstreamManager(ingestor, { timeout: 5_000 });
    expect(await refusal(() => ingestorJsm.streams.getMessage('MD_NORM', { seq: 1 }))).toMatch(
      /permissions violation/i,
    );
  } finally {
    await Promise.all([gateway.close(), ingestor.close()]);
  }
  expect((await natsViolations(nats)).join('\n')).toMatch(/Publish Violation.*md\.raw/);
}

/**
 * Reader logins (database URLs) read `trades` and cannot change it; a wrong password is
 * refused, so the logins' passwords were really asked for.
 */
export async function expectReadOnlyLogins(urls: readonly string[], product: string) {
  for (const url of urls) {
    const reader = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const [row] = await reader<{ n: number }[]>`select count(*)::int as n from trades`;
      expect(row?.n).toBeGreaterThan(0);
      expect(await refusal(() => reader`delete from trades where product = ${product}`)).toMatch(
        /permission denied/,
      );
    } finally {
      await reader.end();
    }
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    const guess = postgres(wrong.toString(), { max: 1, onnotice: () => undefined });
    try {
      expect(await refusal(() => guess`select 1`)).toMatch(/password authentication failed/);
    } finally {
      await guess.end();
    }
  }
}

/** Every password of the Secrets among `objects`. */
export function passwordsOf(objects: readonly K8sObject[]): string[] {
  return objects
    .filter((o) => o.kind === 'Secret')
    .flatMap((o) => Object.entries(dataOf(o)).flatMap(([k, v]) => (/PASSWORD/.test(k) ? [v] : [])));
}

/** None of the files (logs of a run) holds a password of `objects`. */
export async function expectNoPasswordIn(
  files: readonly string[],
  objects: readonly K8sObject[],
): Promise<void> {
  const passwords = passwordsOf(objects);
  expect(passwords.length).toBeGreaterThan(0);
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    for (const pw of passwords) expect(text.includes(pw), `a password in ${file}`).toBe(false);
  }
}
