#define _GNU_SOURCE
#include "extract.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "report.h"

#define DATA_BUF (1 << 20)
#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

struct dir_time {
  char *path;
  struct timespec mtime;
};

static int openat2_in(int dirfd, const char *path, int flags, mode_t mode) {
  struct open_how how = {
      .flags = flags | O_CLOEXEC,
      .mode = mode,
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  for (;;) {
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    /* EAGAIN: a rename raced the lookup; only our own process writes here */
    if (fd < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return fd;
  }
}

int layer_open(struct layer *L, const char *dest) {
  memset(L, 0, sizeof *L);
  L->dest = dest;
  L->rootfd = -1;
  L->chown = geteuid() == 0;
  if (mkdir(dest, 0755) < 0) return fail_io(errno, "mkdir", dest);
  L->rootfd = open(dest, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (L->rootfd < 0) return fail_io(errno, "open", dest);
  L->buf_len = DATA_BUF;
  if (!(L->buf = malloc(L->buf_len))) return fail_io(ENOMEM, "malloc", dest);
  return 0;
}

void layer_close(struct layer *L) {
  if (L->rootfd >= 0) close(L->rootfd);
  for (size_t i = 0; i < L->ndirs; i++) free(L->dirs[i].path);
  for (size_t i = 0; i < L->nskipped; i++) free(L->skipped[i]);
  free(L->dirs);
  free(L->skipped);
  free(L->buf);
}

/* The entry's name as a relative path of plain components: leading "/"
 * and "./", empty and "." components dropped (an absolute name is taken
 * inside the layer, as Docker's extractor does); "" is the layer itself.
 * ".." anywhere is refused rather than resolved. */
static int clean_path(const char *name, char *out, const char *what) {
  size_t n = 0;
  const char *p = name;
  while (*p) {
    while (*p == '/') p++;
    const char *end = strchrnul(p, '/');
    size_t len = end - p;
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return fail_escape("%s \"%s\" leaves the layer (\"..\")", what, name);
    if (len && !(len == 1 && p[0] == '.')) {
      if (n) out[n++] = '/';
      memcpy(out + n, p, len);
      n += len;
    }
    p = end;
  }
  out[n] = 0;
  return 0;
}

/* Makes the directories of rel (they resolve inside the layer) as tar does for names
 * whose parents the archive does not list. */
static int make_parents(struct layer *L, const char *rel) {
  char prefix[PATH_MAX];
  const char *p = rel;
  for (;;) {
    const char *slash = strchr(p, '/');
    if (!slash) return 0;
    size_t len = slash - rel;
    memcpy(prefix, rel, len);
    prefix[len] = 0;
    p = slash + 1;
    int fd = openat2_in(L->rootfd, prefix, O_PATH | O_DIRECTORY, 0);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    if (errno != ENOENT)
      return errno == ENOTDIR ? fail_format("a parent of \"%s\" is not a directory", rel)
                              : fail_io(errno, "openat2", prefix);
    /* the parent of this component exists (the previous round made it) */
    char *last = strrchr(prefix, '/');
    int pfd = last ? (*last = 0, openat2_in(L->rootfd, prefix, O_PATH | O_DIRECTORY, 0))
                   : dup(L->rootfd);
    if (pfd < 0) return fail_io(errno, "openat2", prefix);
    const char *base = last ? last + 1 : prefix;
    int rc = mkdirat(pfd, base, 0755);
    int err = errno;
    close(pfd);
    if (rc < 0) {
      /* it exists but resolves to nothing: a symlink dangling inside the layer */
      if (err == EEXIST)
        return fail_escape("a parent of \"%s\" is a symlink to nothing inside the layer", rel);
      return fail_io(err, "mkdirat", rel);
    }
  }
}

/* A descriptor of rel's parent directory, resolved inside the layer, and rel's last component. */
static int open_parent(struct layer *L, char *rel, const char **base) {
  char *slash = strrchr(rel, '/');
  if (!slash) {
    *base = rel;
    int fd = dup(L->rootfd);
    return fd < 0 ? fail_io(errno, "dup", L->dest) : fd;
  }
  *base = slash + 1;
  *slash = 0;
  int fd = openat2_in(L->rootfd, rel, O_PATH | O_DIRECTORY, 0);
  if (fd < 0 && errno == ENOENT) {
    *slash = '/';
    if (make_parents(L, rel) < 0) return -1;
    *slash = 0;
    fd = openat2_in(L->rootfd, rel, O_PATH | O_DIRECTORY, 0);
  }
  int err = errno;
  *slash = '/';
  if (fd < 0)
    return err == ENOTDIR ? fail_format("a parent of \"%s\" is not a directory", rel)
                          : fail_io(err, "openat2", rel);
  return fd;
}

static int remove_tree(int pfd, const char *name) {
  int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail_io(errno, "openat", name);
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return fail_io(errno, "fdopendir", name);
  }
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (unlinkat(fd, de->d_name, 0) == 0) continue;
    if (errno == EISDIR || errno == EPERM)
      rc = remove_tree(fd, de->d_name);
    else
      rc = fail_io(errno, "unlinkat", de->d_name);
  }
  closedir(d);
  if (rc == 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0) return fail_io(errno, "unlinkat", name);
  return rc;
}

/* What is at name goes, as tar replaces a path the archive defines again. */
static int replace(int pfd, const char *name) {
  struct stat st;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return fail_io(errno, "fstatat", name);
  if (S_ISDIR(st.st_mode)) return remove_tree(pfd, name);
  if (unlinkat(pfd, name, 0) < 0) return fail_io(errno, "unlinkat", name);
  return 0;
}

static int set_xattrs(int fd, const struct tar_entry *e) {
  for (size_t i = 0; i < e->nxattrs; i++) {
    const struct tar_xattr *x = &e->xattrs[i];
    /* overlayfs reads trusted.overlay.* as instructions (redirects, opaque dirs): only
     * whiteout entries may make them */
    if (!strncmp(x->name, "trusted.overlay.", 16)) {
      report_event("skip-xattr", e->name, x->name);
      continue;
    }
    if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0) {
      if (errno == ENOTSUP || errno == EOPNOTSUPP) {
        report_event("skip-xattr", e->name, x->name);
        continue;
      }
      return fail_io(errno, "fsetxattr", x->name);
    }
  }
  return 0;
}

/* Ownership before the mode: chown clears setuid and setgid. */
static int set_owner_mode(struct layer *L, int fd, const struct tar_entry *e) {
  if (L->chown && fchown(fd, e->uid, e->gid) < 0) return fail_io(errno, "fchown", e->name);
  if (fchmod(fd, e->mode) < 0) return fail_io(errno, "fchmod", e->name);
  return set_xattrs(fd, e);
}

static int write_file(struct layer *L, struct tar_reader *r, int pfd, const char *base,
                      const struct tar_entry *e) {
  int fd = openat2_in(pfd, base, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST) {
    if (replace(pfd, base) < 0) return -1;
    fd = openat2_in(pfd, base, O_WRONLY | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0) return fail_io(errno, "openat2", e->name);
  int rc = 0;
  for (;;) {
    ssize_t n = tar_read_data(r, L->buf, L->buf_len);
    if (n < 0) {
      rc = -1;
      break;
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, L->buf + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        rc = fail_io(errno, "write", e->name);
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  struct timespec times[2] = {e->mtime, e->mtime};
  if (rc == 0) rc = set_owner_mode(L, fd, e);
  if (rc == 0 && futimens(fd, times) < 0) rc = fail_io(errno, "futimens", e->name);
  close(fd);
  return rc;
}

static int defer_dir_time(struct layer *L, const char *rel, struct timespec mtime) {
  if (L->ndirs == L->dirs_cap) {
    size_t cap = L->dirs_cap ? L->dirs_cap * 2 : 256;
    struct dir_time *d = realloc(L->dirs, cap * sizeof *d);
    if (!d) return fail_io(ENOMEM, "malloc", rel);
    L->dirs = d, L->dirs_cap = cap;
  }
  if (!(L->dirs[L->ndirs].path = strdup(rel))) return fail_io(ENOMEM, "malloc", rel);
  L->dirs[L->ndirs++].mtime = mtime;
  return 0;
}

static int make_dir(struct layer *L, int pfd, const char *base, const char *rel,
                    const struct tar_entry *e) {
  int fd;
  if (!*rel) {
    fd = openat2_in(L->rootfd, ".", O_RDONLY | O_DIRECTORY, 0);
  } else {
    if (mkdirat(pfd, base, 0700) < 0) {
      if (errno != EEXIST) return fail_io(errno, "mkdirat", e->name);
      struct stat st;
      if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) return fail_io(errno, "fstatat", e->name);
      /* an existing directory keeps its contents and takes the new metadata */
      if (!S_ISDIR(st.st_mode)) {
        if (replace(pfd, base) < 0) return -1;
        if (mkdirat(pfd, base, 0700) < 0) return fail_io(errno, "mkdirat", e->name);
      }
    }
    fd = openat2_in(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
  }
  if (fd < 0) return fail_io(errno, "openat2", e->name);
  int rc = set_owner_mode(L, fd, e);
  close(fd);
  return rc < 0 ? -1 : defer_dir_time(L, rel, e->mtime);
}

/* Metadata of a node that is not a regular file or directory, by name on its parent. */
static int set_node_meta(struct layer *L, int pfd, const char *base, const struct tar_entry *e,
                         int is_link) {
  if (L->chown && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return fail_io(errno, "fchownat", e->name);
  /* fchmodat follows a symlink; base was made by us just now as a non-symlink */
  if (!is_link && fchmodat(pfd, base, e->mode, 0) < 0) return fail_io(errno, "fchmodat", e->name);
  struct timespec times[2] = {e->mtime, e->mtime};
  if (utimensat(pfd, base, times, AT_SYMLINK_NOFOLLOW) < 0) return fail_io(errno, "utimensat", e->name);
  return 0;
}

static int make_symlink(struct layer *L, int pfd, const char *base, const struct tar_entry *e) {
  /* the target is stored verbatim and never followed: later lookups resolve in the layer */
  if (symlinkat(e->linkname, pfd, base) < 0) {
    if (errno != EEXIST) return fail_io(errno, "symlinkat", e->name);
    if (replace(pfd, base) < 0) return -1;
    if (symlinkat(e->linkname, pfd, base) < 0) return fail_io(errno, "symlinkat", e->name);
  }
  return set_node_meta(L, pfd, base, e, 1);
}

/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it, the fd's /proc link does the same. */
static int link_fd(int tfd, int pfd, const char *base) {
  if (linkat(tfd, "", pfd, base, AT_EMPTY_PATH) == 0) return 0;
  if (errno != ENOENT) return -1;
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", tfd);
  return linkat(AT_FDCWD, proc, pfd, base, AT_SYMLINK_FOLLOW);
}

static int make_hardlink(struct layer *L, int pfd, const char *base, const struct tar_entry *e) {
  char target[PATH_MAX];
  if (clean_path(e->linkname, target, "hardlink target") < 0) return -1;
  if (!*target) return fail_escape("hardlink \"%s\" points at the layer directory itself", e->name);
  /* O_NOFOLLOW: a link to a symlink links the symlink, as link(2) does */
  int tfd = openat2_in(L->rootfd, target, O_PATH | O_NOFOLLOW, 0);
  if (tfd < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return fail_escape("hardlink \"%s\" -> \"%s\": the target is not inside the layer", e->name,
                         e->linkname);
    return fail_io(errno, "openat2", e->linkname);
  }
  struct stat st, have;
  int rc = 0;
  if (fstat(tfd, &st) < 0) {
    rc = fail_io(errno, "fstat", e->linkname);
  } else if (S_ISDIR(st.st_mode)) {
    rc = fail_escape("hardlink \"%s\" -> \"%s\": the target is a directory", e->name, e->linkname);
  } else if (link_fd(tfd, pfd, base) < 0) {
    if (errno != EEXIST) {
      rc = fail_io(errno, "linkat", e->name);
    } else if (fstatat(pfd, base, &have, AT_SYMLINK_NOFOLLOW) == 0 && have.st_ino == st.st_ino &&
               have.st_dev == st.st_dev) {
      rc = 0; /* already that file */
    } else if ((rc = replace(pfd, base)) == 0 && link_fd(tfd, pfd, base) < 0) {
      rc = fail_io(errno, "linkat", e->name);
    }
  }
  close(tfd);
  return rc;
}

static int make_fifo(struct layer *L, int pfd, const char *base, const struct tar_entry *e) {
  if (mknodat(pfd, base, S_IFIFO | 0600, 0) < 0) {
    if (errno != EEXIST) return fail_io(errno, "mknodat", e->name);
    if (replace(pfd, base) < 0) return -1;
    if (mknodat(pfd, base, S_IFIFO | 0600, 0) < 0) return fail_io(errno, "mknodat", e->name);
  }
  return set_node_meta(L, pfd, base, e, 0);
}

/* An OCI whiteout `.wh.NAME` is overlayfs's char device 0:0 named NAME; `.wh..wh..opq`
 * is the parent's trusted.overlay.opaque=y. */
static int make_whiteout(struct layer *L, int pfd, const char *base, const struct tar_entry *e) {
  if (!strcmp(base, OPAQUE)) {
    int fd = openat2_in(pfd, ".", O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fail_io(errno, "openat2", e->name);
    int rc = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0);
    int err = errno;
    close(fd);
    return rc < 0 ? fail_io(err, "fsetxattr", e->name) : 0;
  }
  const char *name = base + strlen(WHITEOUT);
  if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || !strncmp(name, WHITEOUT, 4))
    return fail_escape("whiteout \"%s\" names no entry of its directory", e->name);
  if (mknodat(pfd, name, S_IFCHR | e->mode, makedev(0, 0)) < 0) {
    if (errno != EEXIST) return fail_io(errno, "mknodat", e->name);
    if (replace(pfd, name) < 0) return -1;
    if (mknodat(pfd, name, S_IFCHR | e->mode, makedev(0, 0)) < 0)
      return fail_io(errno, "mknodat", e->name);
  }
  if (L->chown && fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return fail_io(errno, "fchownat", e->name);
  return 0;
}

static int skip_entry(struct layer *L, const struct tar_entry *e, const char *why) {
  report_event("skip", e->name, why);
  char **s = realloc(L->skipped, (L->nskipped + 1) * sizeof *s);
  if (!s) return fail_io(ENOMEM, "malloc", e->name);
  L->skipped = s;
  if (!(s[L->nskipped] = strdup(e->name))) return fail_io(ENOMEM, "malloc", e->name);
  L->nskipped++;
  return 0;
}

/* A whiteout prefix on a directory component can only be a trick: refuse it. */
static int check_components(const char *rel, const char *name) {
  for (const char *p = rel; *p;) {
    const char *end = strchrnul(p, '/');
    if (*end && !strncmp(p, WHITEOUT, 4))
      return fail_escape("\"%s\": a directory component has the whiteout prefix", name);
    p = *end ? end + 1 : end;
  }
  return 0;
}

int layer_apply(struct layer *L, struct tar_reader *r, const struct tar_entry *e) {
  char rel[PATH_MAX];
  L->entries++;
  if (clean_path(e->name, rel, "entry") < 0 || check_components(rel, e->name) < 0) return -1;
  if (e->type == '3' || e->type == '4') {
    const char *b = strrchr(rel, '/');
    if (strncmp(b ? b + 1 : rel, WHITEOUT, 4)) return skip_entry(L, e, "device node");
  }
  if (!*rel && e->type != '5')
    return fail_format("entry \"%s\" names the layer directory but is not a directory", e->name);
  const char *base = "";
  int pfd = open_parent(L, rel, &base);
  if (pfd < 0) return -1;
  int rc;
  if (!strncmp(base, WHITEOUT, 4))
    rc = make_whiteout(L, pfd, base, e);
  else
    switch (e->type) {
    case '0': rc = write_file(L, r, pfd, base, e); break;
    case '1': rc = make_hardlink(L, pfd, base, e); break;
    case '2': rc = make_symlink(L, pfd, base, e); break;
    case '5': rc = make_dir(L, pfd, base, rel, e); break;
    case '6': rc = make_fifo(L, pfd, base, e); break;
    default: rc = skip_entry(L, e, "unknown entry type"); break;
    }
  close(pfd);
  return rc;
}

int layer_finish(struct layer *L) {
  /* deepest last made first, so a parent's time is set after its children's */
  for (size_t i = L->ndirs; i-- > 0;) {
    const struct dir_time *d = &L->dirs[i];
    int fd = *d->path ? openat2_in(L->rootfd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)
                      : openat2_in(L->rootfd, ".", O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) continue; /* replaced by a later entry */
    struct timespec times[2] = {d->mtime, d->mtime};
    int rc = futimens(fd, times);
    int err = errno;
    close(fd);
    if (rc < 0) return fail_io(err, "futimens", d->path);
  }
  return 0;
}
