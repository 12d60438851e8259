import type { Logger } from './logger.js';
import { describeError } from './errors.js';

/**
 * Shutdown driven by an AbortSignal: SIGTERM/SIGINT abort the controller, readiness
 * turns 503 first, then stop functions run in reverse order of registration, under a
 * force-exit timer below the Kubernetes grace period (30 s by default).
 */
export interface ServiceContext {
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Register a stop function; they run in reverse order at shutdown. */
  onStop: (name: string, stop: () => Promise<void> | void) => void;
  /** Mark the service ready or not ready (with a reason shown on /readyz). */
  setReady: (ready: boolean, reason?: string) => void;
  readiness: () => { ready: boolean; reason?: string };
}

export interface RunOptions {
  name: string;
  log: Logger;
  /** Milliseconds before a stuck shutdown exits anyway. */
  forceExitMs?: number;
  /** For tests: don't install process signal handlers or call process.exit. */
  embedded?: boolean;
}

export interface RunningService {
  readonly ctx: ServiceContext;
  /** Trigger shutdown (as SIGTERM does) and wait for it. */
  stop(reason?: string): Promise<void>;
  /** Resolves when shutdown completed. */
  readonly stopped: Promise<void>;
}

export async function runService(
  opts: RunOptions,
  start: (ctx: ServiceContext) => Promise<void>,
): Promise<RunningService> {
  const controller = new AbortController();
  const stops: { name: string; stop: () => Promise<void> | void }[] = [];
  let ready = false;
  let notReadyReason: string | undefined = 'starting';
  const log = opts.log;

  const ctx: ServiceContext = {
    signal: controller.signal,
    log,
    onStop: (name, stop) => stops.push({ name, stop }),
    setReady: (r, reason) => {
      if (controller.signal.aborted) return;
      if (r !== ready) log.info({ ready: r, reason }, r ? 'ready' : 'not ready');
      ready = r;
      notReadyReason = r ? undefined : (reason ?? 'not ready');
    },
    readiness: () =>
      controller.signal.aborted
        ? { ready: false, reason: 'shutting down' }
        : ready
          ? { ready: true }
          : { ready: false, reason: notReadyReason ?? 'not ready' },
  };

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    if (stopping !== undefined) return stopping;
    stopping = (async () => {
      // Assigned before anything runs: abort listeners that call shutdown() get this promise.
      await Promise.resolve();
      log.info({ reason }, 'shutting down');
      ready = false;
      controller.abort(new Error(reason));
      const timer = setTimeout(() => {
        log.error({ forceExitMs: opts.forceExitMs ?? 25_000 }, 'shutdown timed out, exiting');
        if (!opts.embedded) process.exit(1);
      }, opts.forceExitMs ?? 25_000);
      timer.unref();
      for (const { name, stop } of stops.reverse()) {
        try {
          await stop();
        } catch (err) {
          log.warn({ step: name, err: describeError(err) }, 'stop step failed');
        }
      }
      clearTimeout(timer);
      log.info('stopped');
    })();
    return stopping;
  };

  if (!opts.embedded) {
    const onSignal = (sig: NodeJS.Signals) => {
      void shutdown(sig).then(() => process.exit(0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  try {
    await start(ctx);
  } catch (err) {
    log.fatal({ err: describeError(err) }, 'failed to start');
    await shutdown('start failed');
    throw err;
  }

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  controller.signal.addEventListener('abort', () => {
    void (stopping ?? shutdown('aborted')).then(resolveStopped);
  });
  return {
    ctx,
    stop: async (reason = 'stop requested') => {
      await shutdown(reason);
      resolveStopped();
    },
    stopped,
  };
}

/** Resolves after `ms`, or early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
