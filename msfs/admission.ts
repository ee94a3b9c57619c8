/**
 * Who may connect and who may upload. A source is an IPv4 address or an
 * IPv6 /64 (sourceKey: one subscriber's network, whose host picks any
 * address inside it at will). Each source may hold at most maxPerSource
 * connections and maxPerAddress uploads at once, and all uploads together
 * at most maxBytes of request bodies (each upload reserves its declared
 * length, or the largest allowed when it declares none).
 */
import type net from 'node:net';
import { sourceKey } from '../access-server/source-address.ts';

export { sourceKey };

export type Admit = { ok: true; release: () => void } | { ok: false; reason: 'address' | 'total' };

/** A count per key, removed at zero so the map holds only sources with something open. */
class Counts {
  private readonly map = new Map<string, number>();

  get(key: string): number {
    return this.map.get(key) ?? 0;
  }

  add(key: string, delta: 1 | -1): void {
    const n = this.get(key) + delta;
    if (n <= 0) this.map.delete(key);
    else this.map.set(key, n);
  }
}

export class Admission {
  private readonly perAddress = new Counts();
  private bytes = 0;
  private count = 0;

  constructor(
    private readonly maxPerAddress: number,
    private readonly maxBytes: number,
  ) {}

  get uploads(): number {
    return this.count;
  }

  get reservedBytes(): number {
    return this.bytes;
  }

  /** `source`: a sourceKey. */
  admit(source: string, bytes: number): Admit {
    if (this.perAddress.get(source) >= this.maxPerAddress) return { ok: false, reason: 'address' };
    if (this.bytes + bytes > this.maxBytes) return { ok: false, reason: 'total' };
    this.perAddress.add(source, 1);
    this.bytes += bytes;
    this.count++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.bytes -= bytes;
        this.count--;
        this.perAddress.add(source, -1);
      },
    };
  }
}

/** Open connections per source; a connection over the bound is destroyed as it arrives. */
export class ConnectionLimit {
  private readonly open = new Counts();
  /** Connections destroyed for being over the bound. */
  refused = 0;

  constructor(private readonly maxPerSource: number) {}

  /** Call on the server's 'connection' event; false when the socket was destroyed. */
  accept(socket: net.Socket): boolean {
    const source = sourceKey(socket.remoteAddress ?? '');
    if (this.open.get(source) >= this.maxPerSource) {
      this.refused++;
      socket.destroy();
      return false;
    }
    this.open.add(source, 1);
    socket.once('close', () => this.open.add(source, -1));
    return true;
  }
}
