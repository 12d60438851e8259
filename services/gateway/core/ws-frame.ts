/**
 * RFC 6455 server-to-client text frames, built once per message: the same bytes,
 * WebSocket header included, go to every subscriber in one socket write per client and
 * tick, with no per-client framing. Server frames are never masked (RFC 6455 §5.1).
 */
const FIN_TEXT = 0x81;

export interface WireFrame {
  /** Header + payload, ready for socket.write. */
  readonly wire: Buffer;
  /** The payload (a view into `wire`, not a copy). */
  readonly payload: Buffer;
}

export function wsTextFrame(text: string): WireFrame {
  const length = Buffer.byteLength(text, 'utf8');
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const wire = Buffer.allocUnsafe(head + length);
  wire[0] = FIN_TEXT;
  if (head === 2) wire[1] = length;
  else if (head === 4) {
    wire[1] = 126;
    wire.writeUInt16BE(length, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    wire.writeUInt32BE(length >>> 0, 6);
  }
  wire.write(text, head, 'utf8');
  return { wire, payload: wire.subarray(head) };
}

/** The payloads of consecutive unmasked frames (tests read socket writes with it). */
export function splitWsFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 2 <= buf.length) {
    const b1 = buf[at + 1] ?? 0;
    let length = b1 & 0x7f;
    let head = 2;
    if (length === 126) {
      length = buf.readUInt16BE(at + 2);
      head = 4;
    } else if (length === 127) {
      length = buf.readUInt32BE(at + 2) * 2 ** 32 + buf.readUInt32BE(at + 6);
      head = 10;
    }
    out.push(buf.subarray(at + head, at + head + length));
    at += head + length;
  }
  return out;
}
