/* inbound.c: a chunked stream being received from one member. Payload
 * frames are kept exactly as ZeroMQ delivered them (no copy) until every
 * chunk is in; the merge then reads straight out of them. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

void psd_inbound_clear(psd_inbound *in)
{
    for (uint64_t i = 0; in->have && i < in->n_chunks; i++) {
        if (in->have[i]) zmq_msg_close(&in->chunks[i]);
        in->have[i] = false;
        in->late[i] = false;
    }
    in->received = 0;
    in->complete = false;
}

void psd_inbound_free(psd_inbound *in)
{
    psd_inbound_clear(in);
    free(in->chunks);
    free(in->have);
    free(in->crc);
    free(in->late);
    memset(in, 0, sizeof *in);
}

psync_err psd_inbound_begin(psd_inbound *in, uint64_t total, uint64_t n_chunks)
{
    psd_inbound_clear(in);
    if (in->n_chunks != n_chunks) {
        free(in->chunks);
        free(in->have);
        free(in->crc);
        free(in->late);
        in->chunks = calloc(n_chunks, sizeof *in->chunks);
        in->have = calloc(n_chunks, sizeof *in->have);
        in->crc = calloc(n_chunks, sizeof *in->crc);
        in->late = calloc(n_chunks, sizeof *in->late);
        in->n_chunks = in->chunks && in->have && in->crc && in->late ? n_chunks : 0;
        if (!in->n_chunks)
            return psync_fail(PSYNC_ENOMEM, "staging for %llu chunks",
                              (unsigned long long)n_chunks);
    }
    in->total = total;
    in->gen++;
    return PSYNC_OK;
}

bool psd_inbound_put(psd_inbound *in, uint64_t idx, zmq_msg_t *frame, uint32_t crc, bool late)
{
    if (in->have[idx]) {
        zmq_msg_close(&in->chunks[idx]);
        in->received--;
    }
    zmq_msg_init(&in->chunks[idx]);
    zmq_msg_move(&in->chunks[idx], frame);
    in->crc[idx] = crc;
    in->late[idx] = late;
    in->have[idx] = true;
    in->received++;
    in->complete = in->received == in->n_chunks;
    return in->complete;
}

const uint8_t *psd_inbound_chunk(const psd_inbound *in, uint64_t idx)
{
    return zmq_msg_data((zmq_msg_t *)&in->chunks[idx]);
}
