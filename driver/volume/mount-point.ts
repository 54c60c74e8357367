/**
 * Where a volume may be mounted inside an instance: an absolute, normal
 * path, not the root and not under the kernel's file systems (/proc, /sys,
 * /dev), whose mounts the container's own setup owns.
 */
import path from 'node:path';
import { InvalidVolume } from './volume-errors';

const RESERVED = ['/proc', '/sys', '/dev'];

export function checkMountPoint(mountPoint: unknown): string {
  const bad = (why: string): never => {
    throw new InvalidVolume(`mount point ${JSON.stringify(mountPoint)} ${why}`);
  };
  if (typeof mountPoint !== 'string' || !path.isAbsolute(mountPoint)) return bad('is not absolute');
  if (mountPoint.includes('\0') || mountPoint.length > 1024) return bad('is not a usable path');
  if (mountPoint.split('/').some((c) => c === '..' || c === '.')) return bad('has . or ..');
  const normal = path.posix.normalize(mountPoint).replace(/\/+$/, '');
  if (!normal) return bad('is the root');
  if (RESERVED.some((r) => normal === r || normal.startsWith(`${r}/`)))
    return bad(`is under ${RESERVED.join(', ')}`);
  return normal;
}
