import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SendBatch } from '../../../services/common/send-batch.js';

const noError = (err: unknown) => {
  throw err;
};
const turn = () => new Promise<void>((r) => setImmediate(r));

/** Queues `job` after `depth` microtask hops (a continuation `depth` awaits deep). */
async function after(depth: number, job: () => void): Promise<void> {
  for (let i = 0; i < depth; i++) await Promise.resolve();
  job();
}

describe('SendBatch', () => {
  it('runs the jobs of one turn together, in queue order, after the microtasks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 6 }), { minLength: 1, maxLength: 30 }),
        async (depths) => {
          const batch = new SendBatch(noError);
          const queued: number[] = [];
          const ran: number[] = [];
          let microtasksDone = false;
          await turn();
          const hops = depths.map((d, i) =>
            after(d, () => {
              queued.push(i);
              batch.defer(() => {
                // Every continuation of the turn has queued its job before any job runs.
                expect(microtasksDone).toBe(true);
                ran.push(i);
              });
            }),
          );
          await Promise.all(hops);
          microtasksDone = true;
          expect(ran).toEqual([]);
          await turn();
          expect(ran).toEqual(queued);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('puts a job queued by a running job into the next batch', async () => {
    const batch = new SendBatch(noError);
    const ran: string[] = [];
    batch.defer(() => {
      ran.push('a');
      batch.defer(() => ran.push('c'));
    });
    batch.defer(() => ran.push('b'));
    await turn();
    expect(ran).toEqual(['a', 'b']);
    await turn();
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('reports a job that throws and still runs the rest of its batch', async () => {
    const errors: unknown[] = [];
    const batch = new SendBatch((err) => errors.push(err));
    const ran: string[] = [];
    batch.defer(() => {
      throw new Error('connection closed');
    });
    batch.defer(() => ran.push('after'));
    const refused = expect(
      batch.call(() => {
        throw new Error('bad subject');
      }),
    ).rejects.toThrow('bad subject');
    await turn();
    expect(ran).toEqual(['after']);
    expect(errors).toHaveLength(1);
    await refused;
  });

  it('call() settles with what the send settled with', async () => {
    const batch = new SendBatch(noError);
    await expect(batch.call(() => Promise.resolve(7))).resolves.toBe(7);
    await expect(batch.call(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
  });
});
