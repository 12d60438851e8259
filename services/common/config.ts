import { z } from 'zod';
import { ErrorCode, LedgerFluxError } from './errors.js';

/**
 * Config in two steps (raw env, then typed config): each service declares one zod
 * object schema over environment variable names; `loadConfig` parses it once and
 * reports every bad variable at the same time.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends LedgerFluxError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(ErrorCode.CONFIG_INVALID, `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function loadConfig<S extends z.ZodType>(schema: S, env: Env): Readonly<z.infer<S>> {
  // Empty strings count as unset, so `FOO=` falls back to the default.
  const raw: Record<string, string> = {};
  for (const key of variableNames(schema)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim();
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = issue.path.map(String).join('.') || '(config)';
      const key = issue.path[0];
      const given = typeof key === 'string' ? raw[key] : undefined;
      const shown =
        given === undefined
          ? 'unset'
          : typeof key === 'string' && SECRET_NAME.test(key)
            ? 'a value, not shown'
            : JSON.stringify(hideUrlPasswords(given));
      return `${name}: ${issue.message} (got ${shown})`;
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(result.data);
}

/** Variables whose values are secrets: a config error never echoes them. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|API_KEYS/;

/** `scheme://user:password@host` → `scheme://user:***@host`, wherever it occurs. */
export function hideUrlPasswords(text: string): string {
  return text.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}

/** The variable names of an object schema, also behind a `.transform()`. */
export function variableNames(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodPipe) return variableNames(schema.in as z.ZodType);
  throw new TypeError('a config schema is a z.object(), optionally piped into a transform');
}

// Reusable field types, so every service spells the same variable the same way.

export const logLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

export const port = (fallback: number) =>
  z.coerce.number().int().min(0).max(65535).default(fallback);

export const positiveInt = (fallback: number) =>
  z.coerce.number().int().positive().default(fallback);

export const nonNegativeInt = (fallback: number) =>
  z.coerce.number().int().nonnegative().default(fallback);

const PRODUCT_ID = /^[A-Z0-9]{1,15}-[A-Z0-9]{1,15}$/;

export const productList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s) => [...new Set(s.split(',').map((p) => p.trim().toUpperCase()))].filter(Boolean))
    .pipe(
      z
        .array(z.string().regex(PRODUCT_ID, 'product ids look like BTC-USD'))
        .min(1, 'at least one product'),
    );

export const natsServers = z
  .string()
  .default('nats://127.0.0.1:4222')
  .transform((s) =>
    s
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.string().regex(/^(nats|tls|ws|wss):\/\/[^\s]+$/, 'a nats:// URL'))
      .min(1, 'at least one server'),
  );

export const databaseUrl = z
  .string()
  .default('postgres://ledgerflux@127.0.0.1:5432/ledgerflux')
  .refine((s) => /^postgres(ql)?:\/\//.test(s), 'a postgres:// URL');

/** Fields every NATS-connected service shares. */
export const natsServiceFields = {
  NATS_URL: natsServers,
  LOG_LEVEL: logLevel,
  JS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
};

/**
 * For a command's `main`: the parsed config, or undefined after printing every problem
 * to stderr (the caller exits 2). Other errors propagate.
 */
export function configOrReport<T>(command: string, load: () => T): T | undefined {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`ledgerflux ${command}: ${err.message}\n`);
    return undefined;
  }
}
