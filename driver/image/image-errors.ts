/**
 * The ways getting an image onto a host fails, as typed errors whose
 * messages become the instance fault: a user reading `openstack server
 * show` learns which image, which blob or entry, and why.
 */
import {
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
} from '../../common/errors';

/**
 * Bytes that do not hash to what they were promised (a registry blob, a
 * Glance image's os_hash_value/checksum, a layer's diff_id). Never cached.
 */
export class ImageChecksumError extends InvalidArgumentError {}

/**
 * An archive entry that would write outside its layer directory, or an
 * archive that expands past the guard (a decompression bomb). The whole
 * layer is refused and nothing of it is kept.
 */
export class UnsafeArchiveError extends InvalidArgumentError {}

/** An archive berth cannot read as any image format it knows. */
export class ImageFormatError extends InvalidArgumentError {}

/** A registry refused the credentials (401/403 after the auth flow). */
export class RegistryAuthError extends InvalidArgumentError {}

/** A repository, tag or digest the registry does not have. */
export class ImageReferenceNotFound extends NotFoundError {}

/** The registry or image service cannot be reached or keeps failing. */
export class ImageSourceUnavailable extends UnavailableError {}

/** The cache cannot make room ([image_cache] max_size_mb) without evicting layers in use. */
export class ImageCacheFullError extends ResourceExhaustedError {}

/**
 * The image's config names a user or group that its own /etc/passwd or
 * /etc/group does not have (or an id no kernel accepts).
 */
export class ImageUserError extends InvalidArgumentError {}
