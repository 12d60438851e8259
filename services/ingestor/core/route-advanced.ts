import { assertNever } from '../../common/assert.js';
import { classifyAdvancedFrame } from './classify-advanced.js';
import { RouterBase, type RouterOptions, type Routed } from './route.js';
import { ConnectionSequence, type SequenceWindow } from './sequence-num.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const SEQUENCE_NUM = /"sequence_num"\s*:\s*([0-9]{1,15})[,}\s]/;

/**
 * The Advanced Trade feed's router (DESIGN.md "Raw frames"): every frame's msg id is
 * connection-scoped, a frame spanning several products is split per product (`Lf-Split: 1`),
 * and `sequence_num` is checked per connection: a repeat is not published, a hole past the
 * window is reported (`sequence` / `gap`) for the shell to reconnect. Pure.
 */
export class AdvancedRouter extends RouterBase {
  private readonly sequence: ConnectionSequence;

  constructor(opts: RouterOptions, window: SequenceWindow) {
    super(opts);
    this.sequence = new ConnectionSequence(window);
  }

  override newConnection(connId: string): void {
    super.newConnection(connId);
    this.sequence.reset();
  }

  routeAll(bytes: Uint8Array, text: string | undefined, recvUs: number, nowMs: number): Routed[] {
    const large = this.tooLarge(bytes, recvUs);
    if (large !== undefined) {
      // Still numbered: read its sequence_num from the head, or it would look like a hole.
      const head = dec.decode(bytes.subarray(0, 4096));
      const n = SEQUENCE_NUM.exec(head)?.[1];
      if (n !== undefined) this.sequence.accept(Number(n), nowMs);
      return [large, ...this.tick(nowMs)];
    }
    const c = classifyAdvancedFrame(text ?? dec.decode(bytes));
    if (c.kind === 'unparsable') return [this.unparsable(bytes, recvUs, c.error)];
    const out: Routed[] = [];
    if (c.sequenceNum !== undefined) {
      const verdict = this.sequence.accept(c.sequenceNum, nowMs);
      if (verdict === 'duplicate') return [{ kind: 'sequence', event: 'duplicate' }];
      if (verdict === 'late') out.push({ kind: 'sequence', event: 'late' });
    }
    switch (c.kind) {
      case 'control':
        out.push(this.control(c.type, c.value, bytes, recvUs));
        break;
      case 'product':
        out.push(
          this.unexpectedFrame(c.product, c.type, bytes, recvUs) ?? {
            kind: 'publish',
            type: c.type,
            time: c.time,
            product: c.product,
            req: this.connScoped(c.product, c.type, bytes, recvUs),
          },
        );
        break;
      case 'split':
        for (const part of c.parts) {
          const partBytes = enc.encode(part.text);
          out.push(
            this.unexpectedFrame(part.product, c.type, partBytes, recvUs) ?? {
              kind: 'publish',
              type: c.type,
              time: c.time,
              product: part.product,
              req: this.connScoped(part.product, c.type, partBytes, recvUs, true),
            },
          );
        }
        if (c.rest !== undefined) {
          const rest = c.rest;
          out.push(
            this.control(
              c.type,
              JSON.parse(rest) as Record<string, unknown>,
              enc.encode(rest),
              recvUs,
            ),
          );
        }
        break;
      default:
        assertNever(c);
    }
    out.push(...this.tick(nowMs));
    return out;
  }

  /** A missing sequence_num whose window has passed: report the hole (once per connection). */
  override tick(nowMs: number): Routed[] {
    const hole = this.sequence.overdue(nowMs);
    return hole === undefined ? [] : [{ kind: 'sequence', event: 'gap', ...hole }];
  }
}
