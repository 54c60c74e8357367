/**
 * What the planners produce and the executor performs: one entry per
 * native call, in order (netavark's and youki's split of policy from
 * syscalls). A plan is data, so which devices, addresses, routes and rules
 * a port or a router gets is unit-tested without root; the executor is the
 * only code that touches the kernel.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isSyscallError, type NativeAddon } from '../../native';
import { nativeError } from '../runtime/native-errors';

/** The part of the addon the data plane uses. */
export type NetAddon = Pick<
  NativeAddon,
  | 'netnsCreate'
  | 'umount'
  | 'linkAddVeth'
  | 'linkAddBridge'
  | 'linkAddVxlan'
  | 'linkSet'
  | 'linkDel'
  | 'linkList'
  | 'addrAdd'
  | 'addrDel'
  | 'addrList'
  | 'routeReplace'
  | 'routeDel'
  | 'routeList'
  | 'neighReplace'
  | 'neighDel'
  | 'fdbAppend'
  | 'fdbDel'
  | 'fdbList'
  | 'sysctlSet'
  | 'sysctlGet'
  | 'nftRun'
  | 'nftJson'
>;

type Mutating = Exclude<
  keyof NetAddon,
  | 'linkList'
  | 'addrList'
  | 'routeList'
  | 'fdbList'
  | 'sysctlGet'
  | 'nftJson'
  | 'umount'
  | 'netnsCreate'
>;

export type NativeOperation = {
  [K in Mutating]: { op: K; args: Parameters<NetAddon[K]> };
}[Mutating];

/**
 * Namespaces are made and removed as one step each: a pin needs its
 * directory, and removal is a lazy unmount then an unlink of the pin file.
 */
export type Operation =
  | NativeOperation
  | { op: 'netnsCreate'; args: [path: string] }
  | { op: 'netnsRemove'; args: [path: string] };

export const op = <K extends Operation['op']>(
  name: K,
  ...args: Extract<Operation, { op: K }>['args']
): Operation => ({ op: name, args }) as Operation;

/**
 * Performs the operations in order; the first failure stops it and is
 * thrown as berth's error class for its errno, naming the operation.
 */
export function execute(addon: NetAddon, ops: readonly Operation[]): void {
  for (const o of ops) {
    for (let attempt = 1; ; attempt++) {
      try {
        perform(addon, o);
        break;
      } catch (err) {
        if (!isSyscallError(err)) throw err;
        // A signal to this process can cut an nft transaction short; the
        // kernel aborts it whole, so it is sent again as it was.
        if (o.op === 'nftRun' && err.code === 'EINTR' && attempt < NFT_ATTEMPTS) continue;
        throw nativeError(describe(o), { ...err, message: err.message });
      }
    }
  }
}

const NFT_ATTEMPTS = 3;

/** An operation as a log line: its name and its arguments, scripts cut short. */
export function describe(o: Operation): string {
  const args = o.args.map((a) =>
    typeof a === 'string' && a.length > 60 ? `${a.slice(0, 60)}…` : JSON.stringify(a),
  );
  return `${o.op}(${args.join(', ')})`;
}

function perform(addon: NetAddon, o: Operation): void {
  {
    switch (o.op) {
      case 'netnsCreate':
        fs.mkdirSync(path.dirname(o.args[0]), { recursive: true, mode: 0o711 });
        addon.netnsCreate(o.args[0]);
        break;
      case 'netnsRemove':
        removeNetns(addon, o.args[0]);
        break;
      case 'linkDel':
        linkDel(addon, ...o.args);
        break;
      default:
        (addon[o.op] as (...args: unknown[]) => void)(...o.args);
    }
  }
}

/** A device already gone is removed: its namespace's destruction may have taken it meanwhile. */
function linkDel(addon: NetAddon, netns: Parameters<NetAddon['linkDel']>[0], name: string): void {
  try {
    addon.linkDel(netns, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENODEV') throw err;
  }
}

/** A pin that is not mounted (a crash between the two steps) is unlinked all the same. */
export function removeNetns(addon: NetAddon, pin: string): void {
  try {
    addon.umount(pin, true);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
  fs.rmSync(pin, { force: true });
}
