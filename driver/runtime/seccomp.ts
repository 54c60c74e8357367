/**
 * The default seccomp filter, compiled to classic BPF here so that the
 * policy (which calls, which errno) is TypeScript and unit-testable; the
 * helper only installs the bytes. Like Docker's profile it refuses what a
 * container has no business doing even as root: kernel modules, kexec,
 * keyrings, mounts and namespace changes, clock changes, raw handles.
 */
const ARCH = {
  x64: { audit: 0xc000003e, clone: 56, clone3: 435, x32Bit: 0x40000000 },
  arm64: { audit: 0xc00000b7, clone: 220, clone3: 435, x32Bit: undefined },
} as const;

type Arch = keyof typeof ARCH;

const DENIED: Record<string, Record<Arch, number | undefined>> = {
  mount: { x64: 165, arm64: 40 },
  umount2: { x64: 166, arm64: 39 },
  pivot_root: { x64: 155, arm64: 41 },
  unshare: { x64: 272, arm64: 97 },
  setns: { x64: 308, arm64: 268 },
  open_tree: { x64: 428, arm64: 428 },
  move_mount: { x64: 429, arm64: 429 },
  fsopen: { x64: 430, arm64: 430 },
  fsconfig: { x64: 431, arm64: 431 },
  fsmount: { x64: 432, arm64: 432 },
  fspick: { x64: 433, arm64: 433 },
  mount_setattr: { x64: 442, arm64: 442 },
  kexec_load: { x64: 246, arm64: 104 },
  kexec_file_load: { x64: 320, arm64: 294 },
  init_module: { x64: 175, arm64: 105 },
  finit_module: { x64: 313, arm64: 273 },
  delete_module: { x64: 176, arm64: 106 },
  create_module: { x64: 174, arm64: undefined },
  get_kernel_syms: { x64: 177, arm64: undefined },
  query_module: { x64: 178, arm64: undefined },
  keyctl: { x64: 250, arm64: 219 },
  add_key: { x64: 248, arm64: 217 },
  request_key: { x64: 249, arm64: 218 },
  name_to_handle_at: { x64: 303, arm64: 264 },
  open_by_handle_at: { x64: 304, arm64: 265 },
  reboot: { x64: 169, arm64: 142 },
  swapon: { x64: 167, arm64: 224 },
  swapoff: { x64: 168, arm64: 225 },
  bpf: { x64: 321, arm64: 280 },
  perf_event_open: { x64: 298, arm64: 241 },
  userfaultfd: { x64: 323, arm64: 282 },
  acct: { x64: 163, arm64: 89 },
  lookup_dcookie: { x64: 212, arm64: 18 },
  quotactl: { x64: 179, arm64: 60 },
  syslog: { x64: 103, arm64: 116 },
  settimeofday: { x64: 164, arm64: 170 },
  clock_settime: { x64: 227, arm64: 112 },
  clock_adjtime: { x64: 305, arm64: 266 },
  adjtimex: { x64: 159, arm64: 171 },
  vhangup: { x64: 153, arm64: 58 },
  iopl: { x64: 172, arm64: undefined },
  ioperm: { x64: 173, arm64: undefined },
  uselib: { x64: 134, arm64: undefined },
  nfsservctl: { x64: 180, arm64: undefined },
};

/** clone() flags that make namespaces: refused like unshare(). */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

const EPERM = 1;
const ENOSYS = 38;

// classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h)
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const retErrno = (errno: number) => 0x00050000 | errno;
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16; // little-endian: the low word of args[0]

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const insn = (code: number, k: number, jt = 0, jf = 0): Insn => ({ code, jt, jf, k });

export function deniedSyscalls(): string[] {
  return Object.keys(DENIED);
}

export function compileSeccomp(arch: string = process.arch): Buffer {
  // hasOwn, not `in`: 'toString' and other prototype keys are no architecture.
  if (!Object.hasOwn(ARCH, arch))
    throw new Error(`seccomp: no syscall table for architecture ${arch}`);
  const a = ARCH[arch as Arch];
  const prog: Insn[] = [
    insn(LD_W_ABS, OFFSET_ARCH),
    // A foreign ABI (i386 on x86_64) would have other numbers: kill it.
    insn(JEQ_K, a.audit, 1, 0),
    insn(RET_K, RET_KILL_PROCESS),
    insn(LD_W_ABS, OFFSET_NR),
  ];
  if (a.x32Bit !== undefined) prog.push(insn(JGE_K, a.x32Bit, 0, 1), insn(RET_K, retErrno(EPERM)));
  for (const numbers of Object.values(DENIED)) {
    const nr = numbers[arch as Arch];
    if (nr !== undefined) prog.push(insn(JEQ_K, nr, 0, 1), insn(RET_K, retErrno(EPERM)));
  }
  // ENOSYS, not EPERM, so that libc falls back to clone(), which we can inspect.
  prog.push(insn(JEQ_K, a.clone3, 0, 1), insn(RET_K, retErrno(ENOSYS)));
  prog.push(
    insn(JEQ_K, a.clone, 0, 3),
    insn(LD_W_ABS, OFFSET_ARG0_LOW),
    insn(JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
    insn(RET_K, retErrno(EPERM)),
    insn(RET_K, RET_ALLOW),
  );
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt16LE(p.code, i * 8);
    buf.writeUInt8(p.jt, i * 8 + 2);
    buf.writeUInt8(p.jf, i * 8 + 3);
    buf.writeUInt32LE(p.k, i * 8 + 4);
  });
  return buf;
}
