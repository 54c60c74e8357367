/**
 * One Debian dnsmasq per network per host, in the network's DNS namespace
 * (as Neutron's DHCP agent runs it): detached, so it survives the compute
 * (and a `kill -9` of it), found again by its pid file. Its hosts and DHCP
 * files are rewritten and re-read on SIGHUP; a changed command line
 * (upstreams, subnets) restarts it. Started from sync, never from plug: an
 * instance must not wait for a DNS server to boot.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import { replaceFileSync } from '../../common/atomic-file';
import { type DnsConfig, dnsmasqArgs } from './plan-dns';

interface Files {
  pid: string;
  hosts: string;
  dhcpHosts: string;
  leases: string;
  args: string;
  stderr: string;
}

export class DnsServices {
  private readonly root: string;

  constructor(
    stateDir: string,
    private readonly log: Logger,
    private readonly dnsmasq = 'dnsmasq',
  ) {
    this.root = path.join(stateDir, 'dns');
  }

  /** Network ids with a dnsmasq directory: running or left by a crash. */
  known(): string[] {
    try {
      return fs.readdirSync(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async ensure(cfg: DnsConfig): Promise<void> {
    const files = this.files(cfg.networkId);
    fs.mkdirSync(path.dirname(files.pid), { recursive: true, mode: 0o700 });
    const args = dnsmasqArgs(cfg, files);
    const changed = [
      writeIfChanged(files.hosts, lines(cfg.hosts)),
      writeIfChanged(files.dhcpHosts, lines(cfg.dhcpHosts)),
    ].some(Boolean);
    const pid = this.runningPid(files);
    const sameArgs = readText(files.args) === JSON.stringify(args);
    if (pid !== undefined && sameArgs) {
      if (changed) process.kill(pid, 'SIGHUP');
      return;
    }
    if (pid !== undefined) await this.kill(pid);
    replaceFileSync(files.args, JSON.stringify(args));
    this.start(cfg, args, files);
  }

  /** Stops the network's dnsmasq (if it runs) and forgets its files. */
  async stop(networkId: string): Promise<void> {
    const files = this.files(networkId);
    const pid = this.runningPid(files);
    if (pid !== undefined) await this.kill(pid);
    fs.rmSync(path.dirname(files.pid), { recursive: true, force: true });
  }

  /** The pid of the network's dnsmasq, if the pid file names a live dnsmasq of this directory. */
  runningPid(files: Pick<Files, 'pid'>): number | undefined {
    const pid = Number(readText(files.pid)?.trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    // A reused pid must not be signalled: it is ours only if its command line names our pid file.
    const cmdline = readText(`/proc/${pid}/cmdline`);
    return cmdline?.split('\0').includes(`--pid-file=${files.pid}`) ? pid : undefined;
  }

  files(networkId: string): Files {
    const dir = path.join(this.root, networkId);
    return {
      pid: path.join(dir, 'pid'),
      hosts: path.join(dir, 'hosts'),
      dhcpHosts: path.join(dir, 'dhcp-hosts'),
      leases: path.join(dir, 'leases'),
      args: path.join(dir, 'args.json'),
      stderr: path.join(dir, 'stderr'),
    };
  }

  private start(cfg: DnsConfig, args: string[], files: Files): void {
    // A file, not a pipe: the daemon inherits stderr and outlives this process.
    const stderr = fs.openSync(files.stderr, 'w', 0o600);
    try {
      // dnsmasq daemonizes itself: nsenter's child exits once it has.
      const child = spawn('nsenter', [`--net=${cfg.netns}`, this.dnsmasq, ...args], {
        detached: true,
        stdio: ['ignore', 'ignore', stderr],
      });
      const log = { network_id: cfg.networkId };
      child.on('error', (err) => this.log.error('dnsmasq did not start', { ...log, err }));
      child.on('exit', (code) => {
        if (code === 0) return this.log.info('dnsmasq started', log);
        this.log.error('dnsmasq did not start', {
          ...log,
          code,
          stderr: readText(files.stderr)?.trim(),
        });
      });
      child.unref();
    } finally {
      fs.closeSync(stderr);
    }
  }

  /** Resolves once the process is gone, so that its successor can bind the same address. */
  private async kill(pid: number): Promise<void> {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw err;
    }
    for (let i = 0; i < 200 && fs.existsSync(`/proc/${pid}`) && !isZombie(pid); i++)
      await new Promise((r) => setTimeout(r, 10));
  }
}

function isZombie(pid: number): boolean {
  return / Z /.test(readText(`/proc/${pid}/stat`)?.replace(/^.*\)/, ')') ?? '');
}

const lines = (items: string[]) => (items.length ? `${items.join('\n')}\n` : '');

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function writeIfChanged(file: string, content: string): boolean {
  if (readText(file) === content) return false;
  replaceFileSync(file, content);
  return true;
}
