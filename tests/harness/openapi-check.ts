import { z } from 'zod';

/**
 * Checks HTTP responses against an OpenAPI 3.1 document as served (not against the zod
 * sources): each response's schema is turned back into a validator with
 * `z.fromJSONSchema`. An undocumented path, status or media type fails, and so does a
 * body that does not match (the documented objects have additionalProperties: false).
 * `exercised` records every (operation, status) that was checked.
 */

interface Content {
  type: string;
  schema: z.ZodType;
}

interface Operation {
  id: string;
  path: string;
  regex: RegExp;
  responses: Map<string, Content[]>;
}

interface Doc {
  paths: Record<string, { get?: { operationId: string; responses: Record<string, DocResponse> } }>;
}
interface DocResponse {
  content?: Record<string, { schema: unknown }>;
}

export interface CheckedResponse {
  status: number;
  contentType: string;
  /** Parsed JSON for JSON responses, text otherwise. */
  body: unknown;
}

export class OpenApiChecker {
  readonly operations: Operation[] = [];
  readonly exercised = new Set<string>();

  constructor(doc: unknown) {
    const d = doc as Doc;
    for (const [path, item] of Object.entries(d.paths)) {
      const get = item.get;
      if (get === undefined) continue;
      const pattern = path.replace(/[.]/g, '\\.').replace(/\{[a-z_]+\}/g, '[^/]+');
      const responses = new Map<string, Content[]>();
      for (const [status, r] of Object.entries(get.responses)) {
        responses.set(
          status,
          Object.entries(r.content ?? {}).map(([type, c]) => ({
            type,
            schema: z.fromJSONSchema(c.schema as Parameters<typeof z.fromJSONSchema>[0]),
          })),
        );
      }
      this.operations.push({
        id: get.operationId,
        path,
        regex: new RegExp(`^${pattern}$`),
        responses,
      });
    }
  }

  operationOf(urlPath: string): Operation | undefined {
    const path = urlPath.split('?')[0] ?? urlPath;
    // Literal paths win over templates (/v1/products before /v1/products/{id}).
    return (
      this.operations.find((o) => o.path === path) ??
      this.operations.find((o) => o.regex.test(path))
    );
  }

  /** Every documented (operation, status), as `operationId status`. */
  documented(): string[] {
    return this.operations.flatMap((o) => [...o.responses.keys()].map((s) => `${o.id} ${s}`));
  }

  check(urlPath: string, res: CheckedResponse): void {
    const op = this.operationOf(urlPath);
    if (op === undefined) throw new Error(`${urlPath}: no documented operation`);
    const contents = op.responses.get(String(res.status));
    if (contents === undefined) {
      throw new Error(`${op.id}: status ${String(res.status)} is not documented`);
    }
    const media = res.contentType.split(';')[0]?.trim() ?? '';
    const content = contents.find((c) => c.type === media);
    if (content === undefined) {
      throw new Error(`${op.id} ${String(res.status)}: media type ${media} is not documented`);
    }
    const result = content.schema.safeParse(res.body);
    if (!result.success) {
      throw new Error(
        `${op.id} ${String(res.status)}: body does not match the documented schema: ` +
          `${z.prettifyError(result.error).slice(0, 1500)}\nbody: ${JSON.stringify(res.body).slice(0, 500)}`,
      );
    }
    this.exercised.add(`${op.id} ${String(res.status)}`);
  }
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * fetch + check: GETs `path` from `base`, parses JSON responses, validates the response
 * against the document and returns it. `check: false` for responses outside the doc.
 */
export async function fetchChecked<T = Record<string, unknown>>(
  checker: OpenApiChecker,
  base: string,
  path: string,
  init: RequestInit = {},
): Promise<ApiResponse<T>> {
  const res = await fetch(`${base}${path}`, init);
  const contentType = res.headers.get('content-type') ?? '';
  const text = await res.text();
  const body: unknown =
    contentType.startsWith('application/json') && text !== '' ? JSON.parse(text) : text;
  if ((init.method ?? 'GET') === 'GET')
    checker.check(path, { status: res.status, contentType, body });
  return { status: res.status, headers: res.headers, body: body as T };
}
