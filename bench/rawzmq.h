/* rawzmq.h: what the raw ZeroMQ floors (star_raw.c, shard_raw.c) share:
 * psync's allocator settings and a zero-copy send, so the floors run under
 * the same conditions as psyncd and the client. */
#ifndef PSYNC_BENCH_RAWZMQ_H
#define PSYNC_BENCH_RAWZMQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What both floors take from their flags. */
typedef struct raw_run {
    int workers, reps;
    size_t len, chunk; /* payload bytes per worker, chunk bytes */
} raw_run;

/* Reads --workers (4), --reps (5), --chunk-bytes (4194304) and --params N
 * or --size-mb MB (100) into r. -1 to run; else the exit status: 0 after
 * printing --help, 64 after saying what is wrong (workers outside
 * [min_workers, max_workers], reps < 1, a zero size or chunk). */
int raw_flags(int argc, char **argv, const char *prog, int min_workers, int max_workers,
              raw_run *r);

/* Waits for the n child processes; kills them first if ms < 0 (the run
 * failed). ms, or -1 if a child did not exit 0. */
double raw_reap(const pid_t *pids, int n, double ms);

/* glibc malloc tuned as daemon/sockets.c and worker/client/sockets.c do. */
void raw_tune_malloc(void);

/* A ZeroMQ context with 2 I/O threads, as psyncd's and the client's; NULL
 * if ZeroMQ could not make one. */
void *raw_context(void);

/* Sends n bytes at p on socket s as one zero-copy frame (p must outlive
 * the send); flags as zmq_msg_send's. 0, or -1 if ZeroMQ refused it. */
int raw_send_ref(void *s, const uint8_t *p, size_t n, int flags);

#endif
