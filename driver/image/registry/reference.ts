/**
 * Image references as Docker reads them (distribution's `reference`
 * grammar): `[host[:port]/]repo/path[:tag][@sha256:…]`. The first path
 * component is a registry only when it looks like a host (has a `.` or a
 * `:`, or is `localhost`); otherwise the image is on Docker Hub, and a
 * one-component name lives under `library/`. Neither tag nor digest means
 * `latest`.
 */
import { InvalidArgumentError } from '../../../common/errors';
import { DIGEST } from '../oci';

export interface ImageReference {
  /** `host:port`, or `docker.io` for Docker Hub */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function parseReference(text: string): ImageReference {
  const bad = (why: string) =>
    new InvalidArgumentError(`invalid image reference ${JSON.stringify(text)}: ${why}`);
  if (typeof text !== 'string' || !text || text.length > 4096) throw bad('empty or too long');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('the digest must be sha256:<64 lowercase hex digits>');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`tag ${JSON.stringify(tag)} is not a valid tag`);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!HOST.test(first)) throw bad(`${JSON.stringify(first)} is not a registry host[:port]`);
    registry = first;
    rest = rest.slice(slash + 1);
  }
  // Docker Hub's official images live under library/, and index.docker.io is its old name.
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !rest.includes('/')) rest = `library/${rest}`;
  if (!rest) throw bad('no repository');
  const bad_ = rest.split('/').find((c) => !COMPONENT.test(c));
  if (bad_ !== undefined)
    throw bad(
      `repository component ${JSON.stringify(bad_)} must be lowercase letters, digits and separators`,
    );
  if (rest.length > 255) throw bad('the repository name is longer than 255 characters');
  const ref: ImageReference = { registry, repository: rest };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (!tag && !digest) ref.tag = 'latest';
  return ref;
}

/** The reference in its canonical written form, e.g. `127.0.0.1:5000/busybox:1@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** What a manifest request names: the digest when pinned, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
