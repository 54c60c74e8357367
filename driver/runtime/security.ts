/** The security defaults every container gets (design §6). */

const CAP = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  NET_BIND_SERVICE: 10,
  NET_RAW: 13,
  SYS_CHROOT: 18,
  AUDIT_WRITE: 29,
  SETFCAP: 31,
} as const;

/**
 * Docker's default set without MKNOD: Docker relies on the v1 devices
 * cgroup to make mknod harmless, which cgroup v2 replaces with BPF; without
 * MKNOD (and with a nodev rootfs) no device node can be made at all.
 */
export type Capability = keyof typeof CAP;

export const DEFAULT_CAPABILITIES = Object.keys(CAP) as Capability[];

/**
 * An instance with ports loses NET_RAW: raw and packet sockets would let
 * it craft frames that no rule in its namespace sees (they bypass
 * netfilter's inet hooks), and ping keeps working through unprivileged
 * ICMP sockets (net.ipv4.ping_group_range in its namespace).
 */
export const NETWORKED_CAPABILITIES = DEFAULT_CAPABILITIES.filter((c) => c !== 'NET_RAW');

export function capabilityMask(caps: readonly Capability[] = DEFAULT_CAPABILITIES): bigint {
  return caps.reduce((mask, c) => mask | (1n << BigInt(CAP[c])), 0n);
}

/** Hidden behind /dev/null (files) or an empty read-only tmpfs (directories). */
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Host device nodes bind-mounted into the container's /dev tmpfs. */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

export const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
