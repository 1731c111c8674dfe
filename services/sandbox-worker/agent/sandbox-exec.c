/* pdk-sandbox-exec: runs one sandboxed command under a Landlock domain, so the exec's mode
 * (read-only, workspace-write, escalated) is enforced by the kernel per process, not per container.
 *   pdk-sandbox-exec [--rw PATH]... [--fs-restrict] [--no-net] -- argv...
 * --fs-restrict: writes are denied (EACCES) everywhere but beneath the --rw paths.
 * --no-net: TCP connect and bind are denied (EACCES).
 * Always: signals to and ptrace of processes outside the domain (the agent) are denied (ABI >= 6),
 * and the command's oom_score_adj is raised so the kernel's OOM killer picks it, never the agent.
 * Fails closed: when a restriction asked for cannot be applied, the command does not run (exit 126). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif

struct ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

#define FS_WRITE_V1                                                                                   \
  (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |  \
   LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |         \
   LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |      \
   LANDLOCK_ACCESS_FS_MAKE_SYM)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FILE_RIGHTS (LANDLOCK_ACCESS_FS_WRITE_FILE | FS_TRUNCATE)

static int fail(const char *what) {
  fprintf(stderr, "pdk-sandbox-exec: %s: %s\n", what, strerror(errno));
  return 126;
}

int main(int argc, char **argv) {
  const char *rw[64];
  int rw_count = 0, fs_restrict = 0, no_net = 0, i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--rw") == 0 && i + 1 < argc && rw_count < 64) rw[rw_count++] = argv[++i];
    else if (strcmp(argv[i], "--fs-restrict") == 0) fs_restrict = 1;
    else if (strcmp(argv[i], "--no-net") == 0) no_net = 1;
    else { fprintf(stderr, "pdk-sandbox-exec: bad argument %s\n", argv[i]); return 126; }
  }
  if (i >= argc) { fprintf(stderr, "pdk-sandbox-exec: no command\n"); return 126; }

  int fd = open("/proc/self/oom_score_adj", O_WRONLY);
  if (fd >= 0) { (void)!write(fd, "500", 3); close(fd); }

  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) {
    if (fs_restrict || no_net) return fail("landlock unavailable");
    goto run; /* escalated with network: nothing to enforce but signal scoping */
  }
  struct ruleset_attr attr = {0};
  uint64_t fs_rights = FS_WRITE_V1 | (abi >= 2 ? FS_REFER : 0) | (abi >= 3 ? FS_TRUNCATE : 0);
  if (fs_restrict) attr.handled_access_fs = fs_rights;
  if (no_net) {
    if (abi < 4) { errno = ENOSYS; return fail("landlock network rules need ABI 4"); }
    attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
  }
  if (abi >= 6) attr.scoped = LANDLOCK_SCOPE_SIGNAL | LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;
  size_t size = abi >= 6 ? sizeof(attr) : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
  if (!attr.handled_access_fs && !attr.handled_access_net && !attr.scoped) goto run;
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (ruleset < 0) return fail("landlock_create_ruleset");
  for (int r = 0; fs_restrict && r < rw_count; r++) {
    int path_fd = open(rw[r], O_PATH | O_CLOEXEC);
    if (path_fd < 0) continue; /* a writable root that does not exist grants nothing */
    struct landlock_path_beneath_attr beneath = {.allowed_access = fs_rights, .parent_fd = path_fd};
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) != 0) {
      /* a regular file (e.g. /dev/null) only takes file rights */
      beneath.allowed_access = fs_rights & FILE_RIGHTS;
      if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) != 0)
        return fail(rw[r]);
    }
    close(path_fd);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("no_new_privs");
  if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) return fail("landlock_restrict_self");
  close(ruleset);
run:
  execvp(argv[i], &argv[i]);
  fprintf(stderr, "pdk-sandbox-exec: %s: %s\n", argv[i], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
