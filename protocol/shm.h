/* shm.h: shared-memory segments for the same-host bulk path. The daemon
 * creates each segment as a sealed memfd (it can neither shrink nor grow,
 * so a mapping can never fault past its end) named for a random 64-bit id;
 * a member opens it as /proc/PID/fd/SEG and checks that name before mapping
 * it. Whatever transport the member came over, only a process on the
 * daemon's host, user and pid namespace can open it, and the id makes a
 * look-alike (another host's process with that pid and descriptor) fail.
 * docs/protocol.md ("Same-host shared memory") says who writes what. */
#ifndef PSYNC_SHM_H
#define PSYNC_SHM_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef struct psync_shm {
    uint8_t *p;   /* the mapping (NULL: none) */
    uint64_t len; /* bytes mapped */
    uint64_t id;  /* random, never 0: the segment's identity on the wire (sid) */
    int fd;       /* the creator's descriptor (SEG on the wire); -1 in an opener */
} psync_shm;

/* Creates a sealed segment of len bytes (rounded up to whole pages),
 * mapped read-write into this process, named "NAME-ID" (NAME: at most 32
 * bytes used). PSYNC_EIO (with the failing call) if the kernel has no
 * memfd or seals; PSYNC_ENOMEM. */
psync_err psync_shm_create(uint64_t len, const char *name, psync_shm *out);

/* Maps segment fd (id id) of process pid, read-only or writable.
 * Refuses (PSYNC_EMISMATCH) a descriptor that is not a memfd named for id,
 * one smaller than min_len, or one without the shrink seal; PSYNC_EIO
 * (with what to fix) if /proc/PID/fd/FD cannot be opened, as for another
 * user, host or pid namespace. */
psync_err psync_shm_open(uint64_t pid, uint64_t fd, uint64_t id, uint64_t min_len, bool writable,
                         psync_shm *out);

/* Unmaps s and closes its descriptor (if it created it); s is zeroed
 * (fd -1). Safe on a zeroed or already closed segment. */
void psync_shm_close(psync_shm *s);

/* true if [off, off + n) lies inside s. */
bool psync_shm_holds(const psync_shm *s, uint64_t off, uint64_t n);

#endif
