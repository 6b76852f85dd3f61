/* vfh: the conformance suite's user-space helper inside the guest.
 *   vfh serve NAME        a process that keeps its file descriptors open and makes one system
 *                         call per command it reads from /run/vfh/NAME.in, answering on NAME.out
 *   vfh call NAME CMD...  send one command, print the answer; exit 0 on "ok", 1 on an errno
 * Commands (file descriptors are named, so fd numbers never matter):
 *   open FD PATH | close FD | exit
 *   ioctl FD REQUEST [ARG...]   REQUEST by its uapi name; ARG a named fd, a device name or a type
 * Answers: "ok", "ok VALUE" for requests that return a value (VFIO_GET_API_VERSION, CHECK_EXTENSION,
 * GROUP_GET_STATUS's flags, the IDs iommufd writes back), or the errno's name. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/vfio.h>
#ifdef HAVE_IOMMUFD
#include <linux/iommufd.h>
#endif

#define MAXFD 64
static char *names[MAXFD];
static int fds[MAXFD];

static int lookup(const char *n) {
  for (int i = 0; i < MAXFD; i++) if (names[i] && !strcmp(names[i], n)) return fds[i];
  return -1;
}
static void keep(const char *n, int fd) {
  for (int i = 0; i < MAXFD; i++) if (!names[i]) { names[i] = strdup(n); fds[i] = fd; return; }
}
static void drop(const char *n) {
  for (int i = 0; i < MAXFD; i++) if (names[i] && !strcmp(names[i], n)) { free(names[i]); names[i] = 0; return; }
}
static const char *ename(int e) {
  switch (e) {
#define E(x) case x: return #x;
  E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(EBADF) E(EAGAIN) E(ENOMEM)
  E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL)
  E(ENFILE) E(EMFILE) E(ENOTTY) E(ENOSPC) E(ENOSYS) E(EOPNOTSUPP) E(EPROTO) E(EDEADLK)
  E(ENOTEMPTY) E(ELOOP) E(ENAMETOOLONG) E(EOVERFLOW) E(ESPIPE) E(EROFS) E(EBADFD)
#undef E
  }
  static char num[16];
  snprintf(num, sizeof num, "E%d", e);   /* as the replay names a number it has no name for */
  return num;
}

static int value_of(const char *s) {   /* an extension or IOMMU type, by name or number */
  if (!strcmp(s, "VFIO_TYPE1_IOMMU")) return VFIO_TYPE1_IOMMU;
  if (!strcmp(s, "VFIO_TYPE1v2_IOMMU")) return VFIO_TYPE1v2_IOMMU;
  if (!strcmp(s, "VFIO_NOIOMMU_IOMMU")) return VFIO_NOIOMMU_IOMMU;
  return atoi(s);
}

static void run(char *line, char *out, size_t n) {
  char *argv[8] = {0};
  int argc = 0;
  for (char *t = strtok(line, " \t\n"); t && argc < 8; t = strtok(0, " \t\n")) argv[argc++] = t;
  long r = -1;
  int value = 0;
  if (argc == 0) { snprintf(out, n, "EINVAL"); return; }
  if (!strcmp(argv[0], "exit")) { snprintf(out, n, "ok"); return; }
  if (!strcmp(argv[0], "open") && argc == 3) {
    r = open(argv[2], O_RDWR | O_CLOEXEC);
    if (r >= 0) keep(argv[1], (int)r);
  } else if (!strcmp(argv[0], "close") && argc == 2) {
    r = close(lookup(argv[1]));
    if (r == 0) drop(argv[1]);
  } else if (!strcmp(argv[0], "ioctl") && argc >= 3) {
    int fd = lookup(argv[1]);
    const char *q = argv[2], *a = argc > 3 ? argv[3] : "";
    if (!strcmp(q, "VFIO_GET_API_VERSION")) { r = ioctl(fd, VFIO_GET_API_VERSION); value = 1; }
    else if (!strcmp(q, "VFIO_CHECK_EXTENSION")) { r = ioctl(fd, VFIO_CHECK_EXTENSION, value_of(a)); value = 1; }
    else if (!strcmp(q, "VFIO_SET_IOMMU")) r = ioctl(fd, VFIO_SET_IOMMU, value_of(a));
    else if (!strcmp(q, "VFIO_GROUP_GET_STATUS")) {
      struct vfio_group_status s = {.argsz = sizeof s};
      r = ioctl(fd, VFIO_GROUP_GET_STATUS, &s);
      if (r == 0) { r = s.flags; value = 1; }
    } else if (!strcmp(q, "VFIO_GROUP_SET_CONTAINER")) { int c = lookup(a); r = ioctl(fd, VFIO_GROUP_SET_CONTAINER, &c); }
    else if (!strcmp(q, "VFIO_GROUP_UNSET_CONTAINER")) r = ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
    else if (!strcmp(q, "VFIO_GROUP_GET_DEVICE_FD") && argc == 5) {
      r = ioctl(fd, VFIO_GROUP_GET_DEVICE_FD, argv[4]);
      if (r >= 0) { keep(argv[3], (int)r); r = 0; }
    }
#ifdef HAVE_IOMMUFD
    /* The IDs the kernel writes back (out_ioas_id, out_devid, pt_id) are the answer's value; an
     * IOAS ID is kept under the name given (per process) for a later ATTACH, which also takes a number. */
    else if (!strcmp(q, "IOMMU_IOAS_ALLOC") && argc == 4) {
      struct iommu_ioas_alloc s = {.size = sizeof s};
      r = ioctl(fd, IOMMU_IOAS_ALLOC, &s);
      if (r == 0) { char v[16]; snprintf(v, sizeof v, "%u", s.out_ioas_id); setenv(argv[3], v, 1);
                    r = s.out_ioas_id; value = 1; }
    } else if (!strcmp(q, "VFIO_DEVICE_BIND_IOMMUFD") && argc == 4) {
      struct vfio_device_bind_iommufd s = {.argsz = sizeof s, .iommufd = lookup(a)};
      r = ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &s);
      if (r == 0) { r = s.out_devid; value = 1; }
    } else if (!strcmp(q, "VFIO_DEVICE_ATTACH_IOMMUFD_PT") && argc == 4) {
      const char *v = getenv(a);
      struct vfio_device_attach_iommufd_pt s = {.argsz = sizeof s, .pt_id = v ? atoi(v) : atoi(a)};
      r = ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &s);
      if (r == 0) { r = s.pt_id; value = 1; }
    } else if (!strcmp(q, "VFIO_DEVICE_DETACH_IOMMUFD_PT")) {
      struct vfio_device_detach_iommufd_pt s = {.argsz = sizeof s};
      r = ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &s);
    }
#endif
    else { snprintf(out, n, "unknown request %s", q); return; }
  } else { snprintf(out, n, "unknown command %s", argv[0]); return; }
  if (r < 0) snprintf(out, n, "%s", ename(errno));
  else if (value) snprintf(out, n, "ok %ld", r);
  else snprintf(out, n, "ok");
}

static void path(char *buf, size_t n, const char *name, const char *end) {
  snprintf(buf, n, "/run/vfh/%s.%s", name, end);
}

int main(int argc, char **argv) {
  char in[128], outp[128], line[512], ans[256];
  if (argc == 3 && !strcmp(argv[1], "serve")) {
    mkdir("/run/vfh", 0755);
    path(in, sizeof in, argv[2], "in"); path(outp, sizeof outp, argv[2], "out");
    mkfifo(in, 0600); mkfifo(outp, 0600);
    for (;;) {
      FILE *f = fopen(in, "r");
      if (!f || !fgets(line, sizeof line, f)) { if (f) fclose(f); continue; }
      fclose(f);
      int bye = !strncmp(line, "exit", 4);
      run(line, ans, sizeof ans);
      f = fopen(outp, "w");
      if (f) { fprintf(f, "%s\n", ans); fclose(f); }
      if (bye) { unlink(in); unlink(outp); return 0; }
    }
  }
  if (argc >= 4 && !strcmp(argv[1], "call")) {
    path(in, sizeof in, argv[2], "in"); path(outp, sizeof outp, argv[2], "out");
    FILE *f = fopen(in, "w");
    if (!f) { printf("no process %s\n", argv[2]); return 2; }
    for (int i = 3; i < argc; i++) fprintf(f, "%s%s", argv[i], i + 1 < argc ? " " : "\n");
    fclose(f);
    f = fopen(outp, "r");
    if (!f || !fgets(ans, sizeof ans, f)) return 2;
    fclose(f);
    fputs(ans, stdout);
    return strncmp(ans, "ok", 2) ? 1 : 0;
  }
  fprintf(stderr, "usage: vfh serve NAME | vfh call NAME CMD...\n");
  return 2;
}
