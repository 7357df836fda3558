/* gen_corpus.c: writes the seed blobs of corpus/blob/ (valid and invalid):
 * `blob_corpus_gen DIR`. Re-run it when the format changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "testmodel.h"

static int gen_write(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    return fclose(f) != 0;
}

/* A one-node model with a single tensor and no loss. */
static psync_err gen_tiny(psync_model **out)
{
    psync_model *m = NULL;
    const uint64_t s[1] = {2};
    const float w[2] = {0.5f, -0.25f};
    psync_node n;
    psync_err err = psync_model_new(&m);
    if (!err) err = psync_graph_add_input(&m->graph, "x", PSYNC_DTYPE_F32, 1, s);
    psync_node_init(&n, "out", "scale");
    psync_node_add_input(&n, "x");
    psync_node_add_param(&n, "w");
    if (!err) err = psync_graph_add_node(&m->graph, &n, 4, NULL);
    strcpy(m->graph.output, "out");
    if (!err)
        err = psync_model_add_tensor(m, "w", PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 1, s, w, NULL);
    *out = m;
    return err;
}

static int gen_variants(const char *dir, const uint8_t *b, size_t n)
{
    uint8_t *c = malloc(n);
    int rc = gen_write(dir, "valid-mlp.psync", b, n);
    rc |= gen_write(dir, "truncated-header.psync", b, n / 3);
    rc |= gen_write(dir, "truncated-payload.psync", b, n - 7);
    memcpy(c, b, n);
    c[n - 1] ^= 0xff; /* payload byte: still valid */
    rc |= gen_write(dir, "valid-mlp-payload-changed.psync", c, n);
    memcpy(c, b, n);
    for (size_t i = 0; i + 9 <= n; i++)
        if (!memcmp(c + i, "\xa7version\x01", 9)) c[i + 8] = 2;
    rc |= gen_write(dir, "version-2.psync", c, n);
    memcpy(c, b, n);
    for (size_t i = 0; i + 13 <= n; i++)
        if (!memcmp(c + i, "\xablayout_hash", 12)) c[i + 14] ^= 1;
    rc |= gen_write(dir, "layout-hash-mismatch.psync", c, n);
    free(c);
    const uint8_t bomb[] = {0x81, 0xa6, 'f',  'o',  'r',  'm',  'a',  't',  0x91, 0x91,
                            0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                            0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0};
    rc |= gen_write(dir, "nesting-bomb.bin", bomb, sizeof bomb);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: blob_corpus_gen DIR\n");
        return 2;
    }
    psync_model *m = NULL, *tiny = NULL;
    void *b = NULL, *t = NULL;
    size_t n = 0, tn = 0;
    if (testmodel_build(&m) || psync_blob_encode(m, &b, &n) || gen_tiny(&tiny) ||
        psync_blob_encode(tiny, &t, &tn)) {
        fprintf(stderr, "blob_corpus_gen: %s\n", psync_errdetail());
        return 1;
    }
    int rc = gen_variants(argv[1], b, n) | gen_write(argv[1], "valid-tiny.psync", t, tn);
    free(b);
    free(t);
    psync_model_destroy(&m);
    psync_model_destroy(&tiny);
    return rc;
}
