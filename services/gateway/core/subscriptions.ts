import type { Channel } from './protocol.js';

/**
 * Who is subscribed to what: a set of (connection, channel, product) triples with the
 * two indexes fan-out needs: subscribers of a (product, channel), and connections with
 * any channel of a product. `C` is whatever identifies a connection.
 */
export class SubscriptionRegistry<C> {
  private readonly byConn = new Map<C, Map<string, Set<Channel>>>();
  private readonly byKey = new Map<string, Map<Channel, Set<C>>>();
  private total = 0;

  /** Adds the pairs; returns the ones that were new. */
  add(conn: C, channels: readonly Channel[], products: readonly string[]): [Channel, string][] {
    const added: [Channel, string][] = [];
    let mine = this.byConn.get(conn);
    for (const product of products) {
      for (const channel of channels) {
        if (mine?.get(product)?.has(channel) === true) continue;
        if (mine === undefined) {
          mine = new Map();
          this.byConn.set(conn, mine);
        }
        let set = mine.get(product);
        if (set === undefined) {
          set = new Set();
          mine.set(product, set);
        }
        set.add(channel);
        let perChannel = this.byKey.get(product);
        if (perChannel === undefined) {
          perChannel = new Map();
          this.byKey.set(product, perChannel);
        }
        let conns = perChannel.get(channel);
        if (conns === undefined) {
          conns = new Set();
          perChannel.set(channel, conns);
        }
        conns.add(conn);
        this.total++;
        added.push([channel, product]);
      }
    }
    return added;
  }

  /** Removes the pairs; returns the ones that were there. */
  remove(conn: C, channels: readonly Channel[], products: readonly string[]): [Channel, string][] {
    const removed: [Channel, string][] = [];
    const mine = this.byConn.get(conn);
    if (mine === undefined) return removed;
    for (const product of products) {
      const set = mine.get(product);
      if (set === undefined) continue;
      for (const channel of channels) {
        if (!set.delete(channel)) continue;
        const perChannel = this.byKey.get(product);
        const conns = perChannel?.get(channel);
        conns?.delete(conn);
        if (conns?.size === 0) perChannel?.delete(channel);
        if (perChannel?.size === 0) this.byKey.delete(product);
        this.total--;
        removed.push([channel, product]);
      }
      if (set.size === 0) mine.delete(product);
    }
    if (mine.size === 0) this.byConn.delete(conn);
    return removed;
  }

  removeAll(conn: C): [Channel, string][] {
    const mine = this.byConn.get(conn);
    if (mine === undefined) return [];
    const out: [Channel, string][] = [];
    for (const [product, set] of [...mine]) out.push(...this.remove(conn, [...set], [product]));
    return out;
  }

  has(conn: C, channel: Channel, product: string): boolean {
    return this.byConn.get(conn)?.get(product)?.has(channel) === true;
  }

  /** Number of (channel, product) pairs of a connection. */
  count(conn: C): number {
    let n = 0;
    for (const set of this.byConn.get(conn)?.values() ?? []) n += set.size;
    return n;
  }

  /** A connection's channels per product (live view: do not mutate). */
  of(conn: C): ReadonlyMap<string, ReadonlySet<Channel>> {
    return this.byConn.get(conn) ?? EMPTY;
  }

  channelsOf(conn: C, product: string): ReadonlySet<Channel> | undefined {
    return this.byConn.get(conn)?.get(product);
  }

  subscribers(product: string, channel: Channel): ReadonlySet<C> {
    return this.byKey.get(product)?.get(channel) ?? NONE;
  }

  /** Connections with at least one channel of the product. */
  productSubscribers(product: string): Set<C> {
    const out = new Set<C>();
    for (const conns of this.byKey.get(product)?.values() ?? []) for (const c of conns) out.add(c);
    return out;
  }

  /** Pairs per channel, for the gauge. */
  countsByChannel(): Map<Channel, number> {
    const out = new Map<Channel, number>();
    for (const perChannel of this.byKey.values()) {
      for (const [channel, conns] of perChannel)
        out.set(channel, (out.get(channel) ?? 0) + conns.size);
    }
    return out;
  }

  get size(): number {
    return this.total;
  }
}

const EMPTY: ReadonlyMap<string, ReadonlySet<Channel>> = new Map();
const NONE: ReadonlySet<never> = new Set();
