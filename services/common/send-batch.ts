/**
 * Sends issued together, written together. The NATS client writes what was queued during
 * one synchronous run as one socket write (it flushes in a microtask). A publish issued
 * from a promise continuation (the PubAck of the one before it on its subject, an ack
 * after an output's PubAck) runs in a microtask of its own, after that flush, and costs a
 * write of its own: on a 2-core machine the normalizer spent a quarter of its CPU in
 * those writes. Queued here, the sends of one event-loop turn run in one callback
 * (setImmediate), in the order they were queued, and leave in one write.
 */
export class SendBatch {
  private jobs: (() => void)[] = [];
  private scheduled = false;

  /** `onError`: what a job threw (the others of its batch still run). */
  constructor(private readonly onError: (err: unknown) => void) {}

  /** Runs `job` in the next batch, after the jobs already queued. */
  defer(job: () => void): void {
    this.jobs.push(job);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** `send` (a call that issues a request) run in the next batch; its result. */
  call<T>(send: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.defer(() => {
        try {
          send().then(resolve, reject);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const jobs = this.jobs;
    this.jobs = [];
    for (const job of jobs) {
      try {
        job();
      } catch (err) {
        this.onError(err);
      }
    }
  };
}
