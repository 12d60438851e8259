import type { Route } from './route.js';

/**
 * Path templates (`/v1/products/{id}/candles`) matched segment by segment (pure). A
 * `{name}` matches one non-empty, percent-decoded segment; nothing else is a wildcard.
 */

export interface Match {
  route: Route;
  params: Record<string, string>;
}

type Segment = { literal: string } | { param: string };

interface Compiled {
  route: Route;
  segments: readonly Segment[];
}

function compile(route: Route): Compiled {
  const segments = route.path
    .split('/')
    .slice(1)
    .map((s): Segment => {
      const m = /^\{([a-z_]+)\}$/.exec(s);
      return m?.[1] === undefined ? { literal: s } : { param: m[1] };
    });
  return { route, segments };
}

export class Router {
  private readonly compiled: readonly Compiled[];

  constructor(routes: readonly Route[]) {
    this.compiled = routes.map(compile);
  }

  match(path: string): Match | undefined {
    const parts = path.split('/').slice(1);
    for (const { route, segments } of this.compiled) {
      if (segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segments.length && ok; i++) {
        const seg = segments[i];
        const part = parts[i] ?? '';
        if (seg === undefined) ok = false;
        else if ('literal' in seg) ok = seg.literal === part;
        else {
          const value = decode(part);
          ok = value !== undefined && value !== '';
          if (value !== undefined) params[seg.param] = value;
        }
      }
      if (ok) return { route, params };
    }
    return undefined;
  }
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
