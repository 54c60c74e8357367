/**
 * The native layer's whole surface: the addon's syscalls and the path of
 * the berth-monitor helper (container creation, supervision, exec) and the
 * berth-unpack helper (layer archives to files and back).
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Every network call takes `netns`: the path of a network namespace file
 * (/run/netns/x, /proc/<pid>/ns/net, a pinned file) to act in, or null for
 * the calling process's own. The call switches the calling thread into it
 * and back (also when it fails), so it is synchronous and leaves no thread
 * elsewhere. Failures throw a SyscallError whose syscall is the netlink
 * message (RTM_NEWLINK…), 'SIOCGIFINDEX' (a device name that does not
 * exist), 'open'/'setns' (the netns path) or 'nft', and whose path names the
 * device, address, route or netns. IPv4 and IPv6 addresses are both taken.
 */
export type Netns = string | null;

export interface LinkInfo {
  name: string;
  index: number;
  /** rtnetlink kind: veth, bridge, vxlan, ... (undefined for physical devices and lo) */
  kind?: string;
  /** '' for devices without a link-layer address */
  mac: string;
  mtu: number;
  up: boolean;
  /** name of the master (bridge) device */
  master?: string;
}

export interface RouteSpec {
  /** CIDR, or 'default' */
  dst: string;
  gateway?: string;
  dev?: string;
  /**
   * unicast (default), or unreachable / blackhole for a prefix nothing may
   * leave by; prohibit and throw as iproute2 has them
   */
  type?: 'unicast' | 'unreachable' | 'blackhole' | 'prohibit' | 'throw';
  /** preferred source address */
  src?: string;
  metric?: number;
  /**
   * 'link' for a directly connected route; routeReplace makes a unicast
   * route with `dev` and no gateway link-scoped unless told otherwise
   */
  scope?: 'universe' | 'link' | 'host';
}

export interface NativeAddon {
  /** Pins a new network namespace on `path` (created; must not exist). */
  netnsCreate(path: string): void;
  umount(path: string, detach?: boolean): void;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  /** Every extended attribute of `path` (a symlink itself, never its target). */
  getXattrs(path: string): Record<string, Buffer>;
  setXattr(path: string, name: string, value: Buffer): void;
  removeXattr(path: string, name: string): void;
  /** mknod(2): `mode` holds the file type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;

  /**
   * Attaches `file` to a free loop device (LOOP_CTL_GET_FREE, LOOP_CONFIGURE
   * with LO_FLAGS_AUTOCLEAR) and mounts it on `target` nodev, nosuid, with
   * private propagation; returns the device. The device is released with
   * the last unmount. A free device another process takes meanwhile is
   * skipped for the next.
   */
  loopMount(opts: {
    file: string;
    target: string;
    fstype: string;
    data?: string;
    readOnly?: boolean;
  }): string;
  /** LOOP_SET_CAPACITY: the loop device takes its backing file's current size. */
  loopSetCapacity(device: string): void;
  /** EXT4_IOC_RESIZE_FS: grows the ext4 file system mounted on `mountPoint` to `blocks`. */
  ext4Resize(mountPoint: string, blocks: number): void;
  /** FIFREEZE (true) / FITHAW (false) of the file system mounted on `mountPoint`. */
  fsFreeze(mountPoint: string, frozen: boolean): void;
  /** FICLONE into `dst` (created; must not exist); EOPNOTSUPP/EXDEV/EINVAL where it cannot. */
  fileClone(src: string, dst: string): void;
  /**
   * Copies the data extents of `src` into `dst` (created; must not exist),
   * holes kept; fsynced unless `sync` is false.
   */
  sparseCopy(src: string, dst: string, opts?: { sync?: boolean }): void;

  /**
   * A veth pair in one RTM_NEWLINK: `name` in `netns`, its peer created
   * directly in `peerNetns` (null: the process's own) under the name `peer`
   * with `peerMac`; `mtu` applies to both, each has one queue. Both stay down.
   */
  linkAddVeth(
    netns: Netns,
    name: string,
    peerNetns: Netns,
    peer: string,
    opts?: { mtu?: number; mac?: string; peerMac?: string },
  ): void;
  /** A bridge with STP off and no forward delay (down). */
  linkAddBridge(netns: Netns, name: string, opts?: { mtu?: number; mac?: string }): void;
  /** A VXLAN device without learning; its FDB is filled with fdbAppend (down). */
  linkAddVxlan(
    netns: Netns,
    name: string,
    opts: { vni: number; local: string; port: number; mtu?: number },
  ): void;
  /** Changes what is given, in one request; master null = release from its bridge. */
  linkSet(
    netns: Netns,
    name: string,
    opts: { up?: boolean; mtu?: number; mac?: string; master?: string | null },
  ): void;
  linkDel(netns: Netns, name: string): void;
  linkList(netns: Netns): LinkInfo[];
  /** `cidr` is address/prefix (a bare address is a host prefix); EEXIST is not an error */
  addrAdd(netns: Netns, dev: string, cidr: string): void;
  /** EADDRNOTAVAIL when `dev` has no such address */
  addrDel(netns: Netns, dev: string, cidr: string): void;
  /** IPv4 addresses */
  addrList(netns: Netns): { dev: string; cidr: string }[];
  /**
   * NLM_F_REPLACE semantics: creates or replaces the route with the same
   * dst and metric; main table, proto static
   */
  routeReplace(netns: Netns, route: RouteSpec): void;
  /** fields left out match any route; ESRCH/ENOENT (no such route) is not an error */
  routeDel(netns: Netns, route: RouteSpec): void;
  /** main table, IPv4, including the kernel's own prefix routes */
  routeList(netns: Netns): (RouteSpec & { dev?: string })[];
  /** a permanent neighbour (ARP/NDP) entry, created or replaced */
  neighReplace(netns: Netns, dev: string, ip: string, mac: string): void;
  /** ENOENT when there is no such entry */
  neighDel(netns: Netns, dev: string, ip: string): void;
  /** `bridge fdb append <mac> dev <dev> dst <dst>` (dst: the remote VTEP); EEXIST is not an error */
  fdbAppend(netns: Netns, dev: string, mac: string, dst: string): void;
  /** an absent entry is not an error (the kernel is inconsistent about it) */
  fdbDel(netns: Netns, dev: string, mac: string, dst: string): void;
  /** the FDB entries of a VXLAN device that have a remote dst */
  fdbList(netns: Netns, dev: string): { mac: string; dst: string }[];
  /** writes /proc/sys/<key> as seen from `netns` (key like 'net/ipv4/ip_forward'), in one write */
  sysctlSet(netns: Netns, key: string, value: string): void;
  /** the value without its trailing newline */
  sysctlGet(netns: Netns, key: string): string;
  /**
   * Runs an nft script (nft -f syntax) through libnftables in `netns`, as
   * one transaction: all of it applies or none. Errors carry nft's message;
   * errno is the kernel's when the kernel refused the batch, EINVAL when
   * nft refused the script itself (syntax, evaluation).
   */
  nftRun(netns: Netns, script: string): void;
  /** `nft -j <command>` through libnftables: the JSON text it prints */
  nftJson(netns: Netns, command: string): string;
}

/** Errors thrown by the addon carry the syscall, errno and path. */
export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

function projectRoot(): string {
  // Works from both the sources and the compiled tree (dist/native).
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`berth: no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

const buildDir = path.join(projectRoot(), 'native', 'build', 'Release');

/** The helper that creates and owns containers. */
export const monitorBinary = path.join(buildDir, 'berth-monitor');

/** The helper that unpacks layer archives safely and packs upper directories (native/unpack). */
export const unpackBinary = path.join(buildDir, 'berth-unpack');

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (!addon) {
    const file = path.join(buildDir, 'berth_native.node');
    if (!fs.existsSync(file)) {
      throw new Error(`berth: native addon not built (${file}); run "npm run build"`);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
  }
  return addon;
}

export function isSyscallError(err: unknown): err is SyscallError {
  return err instanceof Error && typeof (err as SyscallError).syscall === 'string';
}
