/* rawzmq.h: what the raw ZeroMQ floors (star_raw.c, shard_raw.c) share:
 * psync's allocator settings and a zero-copy send, so the floors run under
 * the same conditions as psyncd and the client. */
#ifndef PSYNC_BENCH_RAWZMQ_H
#define PSYNC_BENCH_RAWZMQ_H

#include <stddef.h>
#include <stdint.h>

/* glibc malloc tuned as daemon/sockets.c and worker/client/sockets.c do. */
void raw_tune_malloc(void);

/* A ZeroMQ context with 2 I/O threads, as psyncd's and the client's; NULL
 * if ZeroMQ could not make one. */
void *raw_context(void);

/* Sends n bytes at p on socket s as one zero-copy frame (p must outlive
 * the send); flags as zmq_msg_send's. 0, or -1 if ZeroMQ refused it. */
int raw_send_ref(void *s, const uint8_t *p, size_t n, int flags);

#endif
