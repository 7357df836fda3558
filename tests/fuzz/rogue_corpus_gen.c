/* rogue_corpus_gen.c: writes the seed inputs of rogue_peer_fuzz (record
 * format in rogue_peer_fuzz.c) into DIR: one per message a peer may send,
 * with placeholders the harness fills in (inc, m 1 good / 2 rogue,
 * layout 1, total 1, crc 1), plus a hello-attach-snapshot sequence.
 * Usage: rogue_corpus_gen tests/fuzz/corpus/rogue_peer */
#include <stdio.h>
#include <string.h>

#include "wire.h"

typedef struct rg_buf {
    unsigned char b[16384];
    size_t n;
} rg_buf;

/* Appends a record: header of type t on channel bulk (placeholders set),
 * then an optional payload frame of plen bytes of 0x3f (0.75f). */
static void rg_record(rg_buf *o, psync_msg_type t, int bulk, size_t plen)
{
    psync_wire_hdr h;
    unsigned char hb[PSYNC_WIRE_MAX_HEADER];
    size_t hl = 0;
    psync_wire_init(&h, t, 1);
    h.m = bulk ? 2 : 1;
    h.layout = 1;
    h.total = 1;
    h.crc = 1;
    h.samples = 1;
    snprintf(h.name, sizeof h.name, "rogue");
    if (psync_wire_encode(&h, hb, sizeof hb, &hl)) return;
    o->b[o->n++] = (unsigned char)((bulk ? 1 : 0) | (plen ? 2 : 0) | 8);
    o->b[o->n++] = (unsigned char)hl;
    o->b[o->n++] = (unsigned char)(hl >> 8);
    memcpy(o->b + o->n, hb, hl);
    o->n += hl;
    if (plen) {
        o->b[o->n++] = (unsigned char)plen;
        o->b[o->n++] = (unsigned char)(plen >> 8);
        memset(o->b + o->n, 0x3f, plen);
        o->n += plen;
    }
}

static int rg_write(const char *dir, const char *name, const rg_buf *o)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(o->b, 1, o->n, f) != o->n) {
        perror(path);
        return 1;
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rogue_corpus_gen DIR\n");
        return 64;
    }
    int rc = 0;
    for (int t = 1; t < PSYNC_MSG_COUNT_; t++) {
        const psync_wire_msg_info *mi = psync_wire_msg((psync_msg_type)t);
        rg_buf o = {.n = 0};
        rg_record(&o, (psync_msg_type)t, mi->channel == PSYNC_CH_BULK,
                  mi->payload != PSYNC_PL_NONE ? 4096 : 0);
        rc |= rg_write(argv[1], mi->name, &o);
    }
    rg_buf seq = {.n = 0};
    rg_record(&seq, PSYNC_MSG_HELLO, 0, 0);
    rg_record(&seq, PSYNC_MSG_ATTACH, 1, 0);
    rg_record(&seq, PSYNC_MSG_SNAPSHOT, 1, 4096);
    rg_record(&seq, PSYNC_MSG_BOOTSTRAP_REQ, 1, 0);
    rc |= rg_write(argv[1], "sequence", &seq);
    return rc;
}
