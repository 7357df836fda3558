/* shm.c: sealed memfd segments, created by psyncd and opened by members on
 * the same host through /proc, each named for its random id (shm.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

static uint64_t psync_shm_round(uint64_t len)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    return len ? (len + page - 1) / page * page : page;
}

/* A segment's name: "psync-<what>-<id in 16 hex digits>"; the kernel shows
 * it as the link target "/memfd:NAME (deleted)" of every descriptor of it. */
#define PSYNC_SHM_TAG "-%016llx"

psync_err psync_shm_create(uint64_t len, const char *name, psync_shm *out)
{
    uint64_t cap = psync_shm_round(len), id = 0;
    char full[64];
    *out = (psync_shm){NULL, 0, 0, -1};
    while (!id)
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
            return psync_fail(PSYNC_EIO, "getrandom for a segment id: %s", strerror(errno));
    snprintf(full, sizeof full, "%.32s" PSYNC_SHM_TAG, name, (unsigned long long)id);
    int fd = memfd_create(full, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return psync_fail(PSYNC_EIO, "memfd_create: %s", strerror(errno));
    if (ftruncate(fd, (off_t)cap) ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
        int err = errno;
        close(fd);
        return psync_fail(err == ENOSPC ? PSYNC_ENOMEM : PSYNC_EIO,
                          "shared segment of %llu bytes: %s", (unsigned long long)cap,
                          strerror(err));
    }
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return psync_fail(PSYNC_ENOMEM, "mapping %llu shared bytes: %s", (unsigned long long)cap,
                          strerror(errno));
    }
    *out = (psync_shm){p, cap, id, fd};
    return PSYNC_OK;
}

/* true if descriptor fd (of this process) is a memfd named for segment id:
 * its link target is "/memfd:...-ID (deleted)". Read after opening, so the
 * answer is about the file mapped, whatever the creator's descriptor table
 * holds by then. */
static bool psync_shm_named(int fd, uint64_t id)
{
    char path[64], target[320], tag[24];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) return false;
    target[n] = 0;
    const char *del = " (deleted)";
    size_t dl = strlen(del),
           tl = (size_t)snprintf(tag, sizeof tag, PSYNC_SHM_TAG, (unsigned long long)id);
    if ((size_t)n >= dl && !strcmp(target + n - dl, del)) n -= (ssize_t)dl;
    return !strncmp(target, "/memfd:", 7) && (size_t)n >= 7 + tl &&
           !memcmp(target + n - tl, tag, tl);
}

/* Checks an opened descriptor against what the sender announced. */
static psync_err psync_shm_check(int fd, uint64_t id, uint64_t min_len, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st)) return psync_fail(PSYNC_EIO, "fstat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode) || !psync_shm_named(fd, id))
        return psync_fail(PSYNC_EMISMATCH,
                          "descriptor is not segment %016llx (another host, process or pid "
                          "namespace?)",
                          (unsigned long long)id);
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK))
        return psync_fail(PSYNC_EMISMATCH, "segment %016llx is not sealed against shrinking",
                          (unsigned long long)id);
    if ((uint64_t)st.st_size < min_len)
        return psync_fail(PSYNC_EMISMATCH, "segment %016llx has %lld bytes, %llu announced",
                          (unsigned long long)id, (long long)st.st_size,
                          (unsigned long long)min_len);
    *size = (uint64_t)st.st_size;
    return PSYNC_OK;
}

psync_err psync_shm_open(uint64_t pid, uint64_t fd, uint64_t id, uint64_t min_len, bool writable,
                         psync_shm *out)
{
    char path[64];
    uint64_t size = 0;
    *out = (psync_shm){NULL, 0, 0, -1};
    snprintf(path, sizeof path, "/proc/%llu/fd/%llu", (unsigned long long)pid,
             (unsigned long long)fd);
    int f = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (f < 0)
        return psync_fail(PSYNC_EIO,
                          "open %s: %s (shared memory needs the daemon's user and pid "
                          "namespace; the socket path is used instead)",
                          path, strerror(errno));
    psync_err e = psync_shm_check(f, id, min_len, &size);
    void *p = MAP_FAILED;
    if (!e) {
        p = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, f, 0);
        if (p == MAP_FAILED) e = psync_fail(PSYNC_ENOMEM, "mmap %s: %s", path, strerror(errno));
    }
    close(f); /* the mapping keeps the segment alive */
    if (!e) *out = (psync_shm){p, size, id, -1};
    return e;
}

void psync_shm_close(psync_shm *s)
{
    if (s->p) munmap(s->p, s->len);
    if (s->fd >= 0 && s->p) close(s->fd);
    *s = (psync_shm){NULL, 0, 0, -1};
}

bool psync_shm_holds(const psync_shm *s, uint64_t off, uint64_t n)
{
    return s->p && off <= s->len && n <= s->len - off;
}
