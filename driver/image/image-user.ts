/**
 * Who an image's workload runs as: the OCI config's `User` (`uid`,
 * `uid:gid`, `name`, `name:group`, …) resolved against the image's own
 * /etc/passwd and /etc/group, with Docker's rules (runc's GetExecUser): a
 * name the files lack is an error, a number stands for itself, the
 * primary group comes from passwd unless one is named, and supplementary
 * groups (memberships in /etc/group) only when none is named.
 */
import { ImageUserError } from './image-errors';
import { readImageFile } from './layer-files';

export interface ImageUser {
  uid: number;
  gid: number;
  /** supplementary group ids */
  groups: number[];
  /** the passwd entry's home directory; `/` without one, as Docker has it */
  home: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The files a name resolves against; undefined when the image has none. */
export interface AccountFiles {
  passwd?: PasswdEntry[];
  group?: GroupEntry[];
}

/** Larger than any real account file; a bound so that a hostile image cannot make us read GiBs. */
const MAX_ACCOUNT_FILE = 4 << 20;
/** The largest id the kernel takes: (uid_t)-1 means "unchanged". */
const MAX_ID = 2 ** 32 - 2;

/** `name:password:uid:gid:gecos:home:shell`; lines that do not parse are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  return accountLines(text, 7).flatMap(([name, , uid, gid, , home]) =>
    isId(uid) && isId(gid) ? [{ name, uid: Number(uid), gid: Number(gid), home }] : [],
  );
}

/** `name:password:gid:member,member`. */
export function parseGroup(text: string): GroupEntry[] {
  return accountLines(text, 4).flatMap(([name, , gid, members]) =>
    isId(gid) ? [{ name, gid: Number(gid), members: members.split(',').filter(Boolean) }] : [],
  );
}

function accountLines(text: string, fields: number): string[][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'))
    .filter((f) => f.length >= fields && f[0]);
}

function isId(s: string): boolean {
  return /^\d+$/.test(s) && Number(s) <= MAX_ID;
}

/** Resolves `spec` (the config's User, non-empty) against the image's files. */
export function resolveUser(spec: string, files: AccountFiles): ImageUser {
  const colon = spec.indexOf(':');
  const userArg = colon < 0 ? spec : spec.slice(0, colon);
  const groupArg = colon < 0 ? undefined : spec.slice(colon + 1);
  if (!userArg || groupArg === '')
    throw new ImageUserError(`image user '${spec}' is not of the form user[:group]`);
  const entry = files.passwd?.find((e) => e.name === userArg || String(e.uid) === userArg);
  if (!entry && !isId(userArg)) {
    const why = files.passwd ? '' : ' (the image has no /etc/passwd)';
    throw new ImageUserError(`image user '${userArg}' not found in /etc/passwd${why}`);
  }
  const user: ImageUser = entry
    ? { uid: entry.uid, gid: entry.gid, groups: [], home: entry.home || '/' }
    : { uid: Number(userArg), gid: 0, groups: [], home: '/' };
  if (groupArg !== undefined) {
    user.gid = groupId(groupArg, files.group);
  } else if (entry) {
    const memberOf = (files.group ?? []).filter((g) => g.members.includes(entry.name));
    user.groups = [...new Set(memberOf.map((g) => g.gid))];
  }
  return user;
}

function groupId(groupArg: string, groups: GroupEntry[] | undefined): number {
  const entry = groups?.find((g) => g.name === groupArg || String(g.gid) === groupArg);
  if (entry) return entry.gid;
  if (isId(groupArg)) return Number(groupArg);
  const why = groups ? '' : ' (the image has no /etc/group)';
  throw new ImageUserError(`image group '${groupArg}' not found in /etc/group${why}`);
}

/**
 * The image's user, read from its layers (top-most first); undefined when
 * the config names none, so the workload stays the container's root.
 */
export async function imageUser(
  spec: string | undefined,
  layers: readonly string[],
): Promise<ImageUser | undefined> {
  if (!spec) return undefined;
  const read = async (file: string) => {
    const data = await readImageFile(layers, file, MAX_ACCOUNT_FILE);
    return data?.toString('utf8');
  };
  const [passwd, group] = await Promise.all([read('/etc/passwd'), read('/etc/group')]);
  return resolveUser(spec, {
    passwd: passwd === undefined ? undefined : parsePasswd(passwd),
    group: group === undefined ? undefined : parseGroup(group),
  });
}
