/**
 * Access IPs as Nova stores them: its IPAddress column keeps netaddr's
 * canonical text, so a client reads back `::babe:dc0c:1602` for
 * `0000:…:babe:220.12.22.2` (Tempest compares with netaddr's form).
 */

/** IPv6 `address` (already validated) in netaddr's form: compressed, lower case, embedded IPv4 dotted as glibc's inet_ntop prints it. */
export function canonicalIPv6(address: string): string {
  const compressed = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  // inet_ntop prints IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses dotted.
  const m = /^::(ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (!m) return compressed;
  const [hi, lo] = [parseInt(m[2], 16), parseInt(m[3], 16)];
  return `::${m[1] ?? ''}${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
