/**
 * Client source addresses as the login throttle keys them: an IPv4 address
 * as it is, an IPv6 address by its /64 prefix (one subscriber's network; a
 * host picks any address inside it at will), and an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`, what a dual-stack listener reports for IPv4 clients) as
 * the IPv4 address it carries.
 */
import net from 'node:net';
import { ErrorCode, ImError } from '../common/errors.ts';

/** The eight 16-bit groups of an IPv6 address, or null when `addr` is not one. */
export function ipv6Groups(addr: string): number[] | null {
  const text = withoutZone(addr);
  if (!net.isIPv6(text)) return null;
  const halves = text.split('::');
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length > 1 ? parse(halves[1]!) : [];
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** The IPv4 address an IPv4-mapped IPv6 address carries, or null. */
function mappedIpv4(groups: readonly number[]): string | null {
  if (groups[5] !== 0xffff || groups.slice(0, 5).some((g) => g !== 0)) return null;
  const hi = groups[6]!;
  const lo = groups[7]!;
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** `addr` with an IPv4-mapped IPv6 address turned into its IPv4 address; other addresses as they are. */
export function unmapIpv4(addr: string): string {
  if (net.isIPv4(addr)) return addr;
  const groups = ipv6Groups(addr);
  return (groups && mappedIpv4(groups)) ?? addr;
}

/**
 * The throttle key of a client address: `a.b.c.d` for IPv4 (mapped or not),
 * `x:x:x:x::/64` for IPv6; anything else (no address: the socket is gone) as it is.
 */
export function sourceKey(addr: string): string {
  if (net.isIPv4(addr)) return addr;
  const groups = ipv6Groups(addr);
  if (!groups) return addr;
  const v4 = mappedIpv4(groups);
  if (v4) return v4;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** Addresses and CIDR blocks, IPv4 and IPv6; a mapped IPv4 client matches IPv4 entries. */
export class AddressSet {
  private readonly list = new net.BlockList();
  readonly size: number;

  /** `entries`: "addr" or "addr/prefix"; a bad one throws IM_ERR_BAD_CONFIG naming `name`. */
  constructor(entries: readonly string[], name = 'address list') {
    for (const raw of entries) {
      const entry = parseEntry(raw.trim());
      if (!entry) throw new ImError(ErrorCode.BAD_CONFIG, `${name} must be a comma-separated list of addresses or CIDR blocks, got "${raw.trim()}"`);
      this.list.addSubnet(entry.addr, entry.prefix, entry.family);
    }
    this.size = entries.length;
  }

  has(addr: string): boolean {
    if (this.size === 0) return false;
    const a = withoutZone(unmapIpv4(addr));
    if (net.isIPv4(a)) return this.list.check(a, 'ipv4');
    return net.isIPv6(a) && this.list.check(a, 'ipv6');
  }
}

function withoutZone(addr: string): string {
  const zone = addr.indexOf('%');
  return zone >= 0 ? addr.slice(0, zone) : addr;
}

/** "addr" or "addr/prefix" → a block; an IPv4-mapped one becomes the IPv4 block (its prefix less the 96 bits of ::ffff:). */
function parseEntry(text: string): { addr: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text);
  if (!m) return null;
  const written = m[1]!;
  const addr = unmapIpv4(written);
  const family = net.isIPv4(addr) ? 'ipv4' : net.isIPv6(addr) ? 'ipv6' : null;
  if (!family) return null;
  const bits = family === 'ipv4' ? 32 : 128;
  let prefix = m[2] === undefined ? bits : Number(m[2]);
  if (addr !== written && m[2] !== undefined) prefix -= 96;
  return prefix >= 0 && prefix <= bits ? { addr, prefix, family } : null;
}

/** A comma-separated list of addresses / CIDR blocks (empty entries skipped); a bad one throws IM_ERR_BAD_CONFIG naming `name`. */
export function addressList(raw: string, name: string): string[] {
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  new AddressSet(entries, name); // only to check the entries
  return entries;
}
