/** oslo's "X.Y[.Z]" API versions and its compatibility rule (oslo_messaging._utils). */
import { InvalidArgumentError } from '../common/errors';

type Version = [major: number, minor: number, revision: number];

export function parseVersion(text: string): Version {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new InvalidArgumentError(`invalid version "${text}": expected X.Y or X.Y.Z`);
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

/** True when an implementation of `implemented` can serve a request for `requested`. */
export function versionIsCompatible(implemented: string, requested: string): boolean {
  const [impMajor, impMinor, impRevision] = parseVersion(implemented);
  const [major, minor, revision] = parseVersion(requested);
  if (major !== impMajor || minor > impMinor) return false;
  return minor < impMinor || revision <= impRevision;
}
