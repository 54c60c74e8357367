import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSeccomp, deniedSyscalls } from './seccomp';

// Values from linux/seccomp.h and linux/audit.h, written out independently of the module.
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_EPERM = 0x00050001;
const RET_ENOSYS = 0x00050000 | 38;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const X32_SYSCALL_BIT = 0x40000000;
const FORK_FLAGS = 0x01200011; // CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const BPF_MAXINSNS = 4096;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

interface SeccompData {
  nr: number;
  arch: number;
  arg0?: number;
}

function decode(buf: Buffer): Insn[] {
  assert.equal(buf.length % 8, 0, 'program is a whole number of sock_filter structs');
  const prog: Insn[] = [];
  for (let off = 0; off < buf.length; off += 8) {
    prog.push({
      code: buf.readUInt16LE(off),
      jt: buf.readUInt8(off + 2),
      jf: buf.readUInt8(off + 3),
      k: buf.readUInt32LE(off + 4),
    });
  }
  return prog;
}

/** A classic-BPF interpreter for the subset of opcodes a seccomp filter here may use. */
function run(prog: Insn[], data: SeccompData): number {
  // struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }
  const mem = Buffer.alloc(64);
  mem.writeUInt32LE(data.nr >>> 0, 0);
  mem.writeUInt32LE(data.arch >>> 0, 4);
  mem.writeUInt32LE((data.arg0 ?? 0) >>> 0, 16);
  let acc = 0;
  let pc = 0;
  for (let steps = 0; steps <= prog.length; steps++) {
    if (pc < 0 || pc >= prog.length) throw new Error(`pc ${pc} outside the program`);
    const { code, jt, jf, k } = prog[pc];
    switch (code) {
      case 0x20: // BPF_LD | BPF_W | BPF_ABS
        if (k % 4 !== 0 || k + 4 > mem.length) throw new Error(`bad load offset ${k}`);
        acc = mem.readUInt32LE(k);
        pc += 1;
        break;
      case 0x15: // BPF_JMP | BPF_JEQ | BPF_K
        pc += 1 + (acc === k ? jt : jf);
        break;
      case 0x35: // BPF_JMP | BPF_JGE | BPF_K
        pc += 1 + (acc >= k ? jt : jf);
        break;
      case 0x45: // BPF_JMP | BPF_JSET | BPF_K
        pc += 1 + ((acc & k) >>> 0 !== 0 ? jt : jf);
        break;
      case 0x06: // BPF_RET | BPF_K
        return k >>> 0;
      default:
        throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('program did not return');
}

const x64 = decode(compileSeccomp('x64'));
const arm64 = decode(compileSeccomp('arm64'));
const onX64 = (nr: number, arg0?: number) => run(x64, { nr, arch: AUDIT_ARCH_X86_64, arg0 });
const onArm64 = (nr: number, arg0?: number) => run(arm64, { nr, arch: AUDIT_ARCH_AARCH64, arg0 });

test('x86_64: mount, namespace, module, kexec, keyring, bpf and handle calls get EPERM', () => {
  const denied = {
    mount: 165,
    umount2: 166,
    unshare: 272,
    setns: 308,
    pivot_root: 155,
    kexec_load: 246,
    init_module: 175,
    keyctl: 250,
    bpf: 321,
    open_by_handle_at: 304,
  };
  for (const [name, nr] of Object.entries(denied)) {
    assert.equal(onX64(nr), RET_EPERM, `${name} (${nr})`);
    assert.ok(deniedSyscalls().includes(name), `${name} is listed as denied`);
  }
});

test('x86_64: ordinary calls and a plain fork-style clone are allowed', () => {
  assert.equal(onX64(0), RET_ALLOW, 'read');
  assert.equal(onX64(1), RET_ALLOW, 'write');
  assert.equal(onX64(59), RET_ALLOW, 'execve');
  assert.equal(onX64(56, FORK_FLAGS), RET_ALLOW, 'clone with fork flags');
  assert.equal(onX64(56, 0), RET_ALLOW, 'clone with no flags');
});

test('x86_64: clone that creates a namespace gets EPERM', () => {
  assert.equal(onX64(56, FORK_FLAGS | CLONE_NEWUSER), RET_EPERM, 'CLONE_NEWUSER');
  assert.equal(onX64(56, FORK_FLAGS | CLONE_NEWNET), RET_EPERM, 'CLONE_NEWNET');
  assert.equal(onX64(56, CLONE_NEWNS), RET_EPERM, 'CLONE_NEWNS');
  // Each of CLONE_NEWCGROUP, NEWUTS, NEWIPC and NEWPID on its own too.
  for (const flag of [0x02000000, 0x04000000, 0x08000000, 0x20000000]) {
    assert.equal(onX64(56, flag), RET_EPERM, `flag 0x${flag.toString(16)}`);
  }
  // The flags are only inspected for clone: the same bits in another call's arg0 pass.
  assert.equal(onX64(1, CLONE_NEWUSER), RET_ALLOW, 'write with the same arg0');
});

test('x86_64: clone3 gets ENOSYS so that libc falls back to clone', () => {
  assert.equal(onX64(435), RET_ENOSYS);
  assert.equal(onX64(435, FORK_FLAGS), RET_ENOSYS);
});

test('x86_64: x32 syscalls are refused', () => {
  assert.equal(onX64(X32_SYSCALL_BIT | 0), RET_EPERM, 'x32 read');
  assert.equal(onX64(X32_SYSCALL_BIT | 59), RET_EPERM, 'x32 execve');
});

test('a foreign architecture kills the process, whatever the call', () => {
  assert.equal(run(x64, { nr: 0, arch: AUDIT_ARCH_I386 }), RET_KILL_PROCESS, 'i386 on x64');
  assert.equal(run(x64, { nr: 165, arch: AUDIT_ARCH_I386 }), RET_KILL_PROCESS);
  assert.equal(run(x64, { nr: 63, arch: AUDIT_ARCH_AARCH64 }), RET_KILL_PROCESS);
  assert.equal(run(arm64, { nr: 0, arch: AUDIT_ARCH_X86_64 }), RET_KILL_PROCESS, 'x64 on arm64');
});

test('arm64: mount is denied, read allowed, clone with CLONE_NEWNS denied', () => {
  assert.equal(onArm64(40), RET_EPERM, 'mount');
  assert.equal(onArm64(97), RET_EPERM, 'unshare');
  assert.equal(onArm64(63), RET_ALLOW, 'read');
  assert.equal(onArm64(220, FORK_FLAGS), RET_ALLOW, 'clone with fork flags');
  assert.equal(onArm64(220, FORK_FLAGS | CLONE_NEWNS), RET_EPERM, 'clone with CLONE_NEWNS');
  assert.equal(onArm64(435), RET_ENOSYS, 'clone3');
  // x86_64's numbers mean other calls on arm64: 165 is getrusage there.
  assert.equal(onArm64(165), RET_ALLOW, 'getrusage');
});

test('every program is well-formed: in-range jumps, ends in RET, at most 4096 instructions', () => {
  for (const [arch, prog] of [
    ['x64', x64],
    ['arm64', arm64],
  ] as const) {
    assert.ok(prog.length > 0 && prog.length <= BPF_MAXINSNS, `${arch}: length ${prog.length}`);
    prog.forEach(({ code, jt, jf }, i) => {
      assert.ok([0x20, 0x15, 0x35, 0x45, 0x06].includes(code), `${arch}[${i}]: opcode ${code}`);
      if ((code & 0x07) === 0x05) {
        assert.ok(i + 1 + jt < prog.length, `${arch}[${i}]: jt ${jt} leaves the program`);
        assert.ok(i + 1 + jf < prog.length, `${arch}[${i}]: jf ${jf} leaves the program`);
      }
    });
    assert.equal(prog[prog.length - 1].code, 0x06, `${arch}: last instruction is RET`);
  }
});

test('every syscall number in the table reaches a RET with an expected action', () => {
  for (const [prog, archValue, clone] of [
    [x64, AUDIT_ARCH_X86_64, 56],
    [arm64, AUDIT_ARCH_AARCH64, 220],
  ] as const) {
    let denied = 0;
    for (let nr = 0; nr < 512; nr++) {
      const result = run(prog, { nr, arch: archValue, arg0: nr === clone ? FORK_FLAGS : 0 });
      assert.ok([RET_ALLOW, RET_EPERM, RET_ENOSYS].includes(result), `nr ${nr}: ${result}`);
      if (result === RET_EPERM) denied++;
    }
    // Some of the listed calls do not exist on arm64, so at most as many as listed.
    assert.ok(denied > 0 && denied <= deniedSyscalls().length, `${denied} numbers denied`);
  }
});

test('the default architecture is the host one, and an unknown one throws', () => {
  if (process.arch === 'x64' || process.arch === 'arm64') {
    assert.deepEqual(compileSeccomp(), compileSeccomp(process.arch));
  }
  assert.throws(() => compileSeccomp('mips'), /mips/);
  assert.throws(() => compileSeccomp(''), /architecture/);
  assert.throws(() => compileSeccomp('toString'), /architecture/);
});
