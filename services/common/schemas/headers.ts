import { z } from 'zod';

/** Header names of the contracts, spelled once. */
export const H = {
  msgId: 'Nats-Msg-Id',
  recvUs: 'Lf-Recv-Us',
  connId: 'Lf-Conn-Id',
  connSeq: 'Lf-Conn-Seq',
  type: 'Lf-Type',
  split: 'Lf-Split',
  src: 'Lf-Src',
  pubUs: 'Lf-Pub-Us',
  reason: 'Lf-Reason',
  srcSubject: 'Lf-Src-Subject',
  srcSeq: 'Lf-Src-Seq',
  error: 'Lf-Error',
  origBytes: 'Lf-Orig-Bytes',
} as const;

const intString = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/)
  .transform(Number);

/** Headers of an MD_RAW message. */
export const RawHeadersSchema = z.object({
  [H.recvUs]: intString,
  [H.connId]: z.string().regex(/^[0-9a-f]{32}$/, '128-bit hex connection id'),
  [H.connSeq]: intString,
  [H.type]: z.string().min(1),
  [H.split]: z.literal('1').optional(),
});
export type RawHeaders = z.infer<typeof RawHeadersSchema>;

/** Headers of an MD_NORM message. */
export const NormHeadersSchema = z.object({
  [H.src]: intString,
  [H.pubUs]: intString,
});
export type NormHeaders = z.infer<typeof NormHeadersSchema>;

/** Reads the named headers of a NATS message into a plain record for schema checks. */
export function headerRecord(
  h: { get(k: string): string } | undefined,
  names: readonly string[],
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const n of names) {
    const v = h?.get(n);
    out[n] = v === '' ? undefined : v;
  }
  return out;
}

/**
 * A header value NATS accepts: one line of at most `max` characters. The client refuses
 * values with CR or LF (it throws), and error texts can quote input: V8's JSON.parse
 * messages include a snippet of the text, line breaks and all.
 */
export function headerText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, max);
}

/** Microseconds since the epoch (performance.timeOrigin keeps sub-ms precision). */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
