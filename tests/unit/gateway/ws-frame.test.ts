import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import { splitWsFrames, wsTextFrame } from '../../../services/gateway/core/ws-frame.js';

/** ws's own framer (exported by the package, not declared by @types/ws). */
const { Sender } = wsModule as unknown as {
  Sender: {
    frame(
      data: Buffer,
      o: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean },
    ): Buffer[];
  };
};

describe('wsTextFrame', () => {
  it('builds the same bytes as ws itself for every length class', () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
      const text = 'é'.repeat(Math.floor(length / 2)) + 'x'.repeat(length % 2);
      const mine = wsTextFrame(text);
      const theirs = Buffer.concat(
        Sender.frame(Buffer.from(text), {
          fin: true,
          rsv1: false,
          opcode: 1,
          mask: false,
          readOnly: false,
        }),
      );
      expect(mine.wire.equals(theirs), `length ${length}`).toBe(true);
      expect(mine.payload.toString()).toBe(text);
    }
  });

  it('round-trips any sequence of frames through splitWsFrames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 300 }), { maxLength: 20 }),
        (texts) => {
          const wire = Buffer.concat(texts.map((t) => wsTextFrame(t).wire));
          expect(splitWsFrames(wire).map((b) => b.toString())).toEqual(texts);
        },
      ),
    );
  });
});
