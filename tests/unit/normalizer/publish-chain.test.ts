import fc from 'fast-check';
import { expect, it } from 'vitest';
import { normSubject } from '../../../services/common/subjects.js';
import { normSubjects, publishChain } from '../../../services/normalizer/shard-worker.js';

const kinds = ['trade', 'ticker', 'book', 'status'] as const;
const product = fc.constantFrom('BTC-USD', 'ETH-USD', 'SOL-EUR', 'X-Y');

/**
 * Regression (CI, integration normalizer test): gaps went on the trade chain and the other
 * status messages on their own, so one status subject had two writers and was stored out
 * of order (seq 6 before 5). Each subject must have exactly one chain, and a product's
 * status messages must share its trades' chain (a gap is stored before the trades after it).
 */
it('gives every status message of a product its trade chain, and each other kind its own', () => {
  fc.assert(
    fc.property(product, fc.constantFrom(...kinds), (p, kind) => {
      const chain = publishChain(normSubjects(p), kind);
      if (kind === 'status' || kind === 'trade') {
        expect(chain).toBe(normSubject('coinbase', p, 'trade'));
      } else {
        expect(chain).toBe(normSubject('coinbase', p, kind));
      }
    }),
  );
});

it('never shares a chain between two products', () => {
  fc.assert(
    fc.property(product, product, fc.constantFrom(...kinds), (a, b, kind) => {
      fc.pre(a !== b);
      expect(publishChain(normSubjects(a), kind)).not.toBe(publishChain(normSubjects(b), kind));
    }),
  );
});
