import { NormalizedSchema, type Normalized } from '../common/schemas/normalized.js';
import { readNormalized } from '../common/schemas/normalized-reader.js';
import { parseNormSubject } from '../common/subjects.js';

const dec = new TextDecoder();
/** Subjects repeat (products × kinds): parse each once. Bounded against a flood of names. */
const subjects = new Map<string, ReturnType<typeof parseNormSubject>>();

function subjectOf(subject: string): ReturnType<typeof parseNormSubject> {
  let s = subjects.get(subject);
  if (s === undefined && !subjects.has(subject)) {
    s = parseNormSubject(subject);
    if (subjects.size >= 10_000) subjects.clear();
    subjects.set(subject, s);
  }
  return s;
}

/**
 * An MD_NORM message as the snapshotter takes it, or undefined: it must pass the schema
 * and agree with its subject (venue, product, kind), so the product is a subject token.
 * Text holding NUL is refused: PostgreSQL text cannot store it. The hand-written reader
 * decides on the hot path; what it declines goes to the schema, so a reader stricter
 * than the schema would cost speed, never a message.
 */
export function decodeNormalized(subject: string, data: Uint8Array): Normalized | undefined {
  const s = subjectOf(subject);
  if (s === undefined) return undefined;
  const text = dec.decode(data);
  if (text.includes('\\u0000')) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const d = readNormalized(raw) ?? NormalizedSchema.safeParse(raw).data;
  return d?.venue === s.venue && d.product === s.product && d.type === s.kind ? d : undefined;
}
