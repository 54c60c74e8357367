/**
 * Whether nft accepts a script, checked by the kernel in a network
 * namespace of its own (`nft -c` runs the transaction and aborts it), so a
 * planner's text is proven valid, not only looked at. Needs root and nft;
 * `skip` says why not.
 */
import { spawnSync } from 'node:child_process';

export const nftCheckSkip: string | undefined =
  process.getuid?.() !== 0
    ? 'needs root (nft -c in a namespace of its own)'
    : spawnSync('nft', ['--version']).status !== 0
      ? 'nft not installed'
      : undefined;

/** nft's complaint, or '' when the script is valid. */
export function nftComplaint(script: string): string {
  const r = spawnSync('unshare', ['--net', 'nft', '-c', '-f', '-'], {
    input: script,
    encoding: 'utf8',
  });
  return r.status === 0 ? '' : `${r.stderr}\n--- script ---\n${script}`;
}
