/* rawzmq.c: helpers of the raw ZeroMQ floors (rawzmq.h). */
#include <malloc.h>
#include <zmq.h>

#include "rawzmq.h"

void raw_tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_ARENA_MAX, 1);
}

void *raw_context(void)
{
    void *ctx = zmq_ctx_new();
    if (ctx) zmq_ctx_set(ctx, ZMQ_IO_THREADS, 2);
    return ctx;
}

int raw_send_ref(void *s, const uint8_t *p, size_t n, int flags)
{
    zmq_msg_t m;
    zmq_msg_init_data(&m, (void *)p, n, NULL, NULL);
    if (zmq_msg_send(&m, s, flags) >= 0) return 0;
    zmq_msg_close(&m);
    return -1;
}
