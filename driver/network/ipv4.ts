/** The IPv4 arithmetic the data plane needs: prefixes, masks, /31 pairs. */
import { InvalidArgumentError } from '../../common/errors';

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new InvalidArgumentError(`${JSON.stringify(ip)} is not an IPv4 address`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

export interface Cidr {
  network: number;
  prefixLen: number;
}

export function parseCidr(cidr: string): Cidr {
  const [ip, len] = cidr.split('/');
  const prefixLen = Number(len);
  if (len === undefined || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32)
    throw new InvalidArgumentError(`${JSON.stringify(cidr)} is not an IPv4 CIDR`);
  const size = 2 ** (32 - prefixLen);
  return { network: ipToInt(ip) - (ipToInt(ip) % size), prefixLen };
}

export function prefixLength(cidr: string): number {
  return parseCidr(cidr).prefixLen;
}

export function netmask(prefixLen: number): string {
  return intToIp(2 ** 32 - 2 ** (32 - prefixLen));
}

export function isIpv4(text: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(text);
}

/**
 * The i-th /31 of `cidr`: the host takes the even address, the namespace
 * the odd one (RFC 3021 point-to-point, no network or broadcast address).
 */
export function uplinkPair(cidr: string, index: number): { host: string; peer: string } {
  const { network, prefixLen } = parseCidr(cidr);
  if (index < 0 || index >= uplinkCapacity(prefixLen))
    throw new InvalidArgumentError(`uplink ${index} is outside ${cidr}`);
  return { host: intToIp(network + 2 * index), peer: intToIp(network + 2 * index + 1) };
}

export function uplinkCapacity(prefixLen: number): number {
  return prefixLen >= 32 ? 0 : 2 ** (31 - prefixLen);
}
