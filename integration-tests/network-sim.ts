/**
 * Simulated hosts for data-plane tests: network namespaces this test run
 * makes (named berth-it-<run>-…, so the leftover check sees them), wired
 * to an "underlay" namespace that also plays the outside world. Traffic
 * never leaves them. Probes run inside a namespace with nsenter and the
 * test image's static busybox (ping, nc, nslookup), or python3 for a TCP
 * server that answers with the address it sees.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { imageDir, runName, waitFor } from './harness';

export const busybox = path.join(imageDir, 'bin', 'busybox');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` in the namespace `ns` (a path), waiting for it. */
export function inNs(ns: string, cmd: string[], input?: string): Run {
  const r = spawnSync('nsenter', [`--net=${ns}`, ...cmd], {
    encoding: 'utf8',
    input,
    timeout: 20000,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function ip(ns: string, ...args: string[]): string {
  const r = inNs(ns, ['ip', ...args]);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} in ${ns}: ${r.stderr}`);
  return r.stdout;
}

export const pings = (ns: string, dst: string, src?: string) =>
  inNs(ns, [busybox, 'ping', '-c', '1', '-W', '1', ...(src ? ['-I', src] : []), dst]).status === 0;

/** What a TCP server at dst:port answers (the address it saw us as), or '' when unreachable. */
export function tcpAsk(ns: string, dst: string, port: number): string {
  const r = inNs(ns, [busybox, 'nc', '-w', '2', dst, String(port)], '');
  return r.status === 0 ? r.stdout.trim() : '';
}

export function resolves(ns: string, name: string, server: string): string[] {
  // busybox asks for A and AAAA and fails when either finds nothing: the answers tell.
  const r = inNs(ns, [busybox, 'nslookup', '-timeout=2', name, server]);
  // It prints the server first, then "Name: … / Address: …" per answer.
  const answers = r.stdout
    .split(/\n\s*\n/)
    .slice(1)
    .join('\n');
  return [...answers.matchAll(/Address:\s*([0-9.]+)/g)].map((m) => m[1]);
}

/**
 * What a test made, undone newest first when it ends (node's t.after hooks
 * run oldest first: a namespace would go before what lives in it).
 */
export class Teardown {
  private readonly steps: (() => unknown)[] = [];
  constructor(t: TestContext) {
    t.after(async () => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step();
        } catch (err) {
          console.error('teardown step failed', err);
        }
      }
    });
  }
  push(step: () => unknown): void {
    this.steps.push(step);
  }
}

/** A namespace of this run, removed when the test ends. */
export function makeNs(t: Teardown, kind: string): string {
  const name = runName(kind);
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  t.push(() => spawnSync('ip', ['netns', 'del', name]));
  const ns = `/run/netns/${name}`;
  ip(ns, 'link', 'set', 'lo', 'up');
  return ns;
}

/** A TCP server in `ns` that answers each connection with the peer's address. */
export async function tcpServer(
  t: Teardown,
  ns: string,
  addr: string,
  port: number,
): Promise<void> {
  const code = [
    'import socket,sys',
    's=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind((${JSON.stringify(addr)}, ${port})); s.listen(16); print('ready', flush=True)`,
    'while True:',
    '  c,a=s.accept(); c.sendall((a[0]+"\\n").encode()); c.close()',
  ].join('\n');
  const child: ChildProcess = spawn('nsenter', [`--net=${ns}`, 'python3', '-c', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(
    `tcp server on ${addr}:${port}`,
    () => out.includes('ready') || child.exitCode !== null,
  );
  if (!out.includes('ready')) throw new Error(`tcp server on ${addr}:${port} did not start`);
}

/** A resolver in `ns` that knows one name: the upstream of a test, so no query reaches a real one. */
export async function fakeUpstream(
  t: Teardown,
  ns: string,
  listen: string,
  name: string,
  answer: string,
): Promise<void> {
  const child = spawn(
    'nsenter',
    [
      `--net=${ns}`,
      'dnsmasq',
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--user=root',
      `--listen-address=${listen}`,
      '--bind-interfaces',
      `--address=/${name}/${answer}`,
    ],
    { stdio: 'ignore' },
  );
  t.push(() => child.kill('SIGKILL'));
  await waitFor('fake upstream resolver', () => resolves(ns, name, listen).includes(answer), 10000);
}

/** Processes of ours still running with a command line that mentions `dir`. */
export function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) pids.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Mount points under `dir` (pinned namespaces). */
export function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(dir));
}

/** Whatever a failed test left: dnsmasq processes, pinned namespaces, the directory. */
export function cleanNetworkState(stateDir: string): void {
  for (const pid of processesUnder(stateDir)) process.kill(pid, 'SIGKILL');
  for (const m of mountsUnder(stateDir).reverse()) inNs('/proc/self/ns/net', ['umount', '-l', m]);
  fs.rmSync(path.dirname(stateDir), { recursive: true, force: true });
}
