/* psync_client_example.c: the client API end to end. Joins the psyncd found
 * through PSYNC_ADDR (or MASTER_ADDR/MASTER_PORT, or --addr): with --seed it
 * brings a flat model of --params floats (value --value) and uploads it if
 * the daemon has none; without, it bootstraps the cluster's model. Then each
 * round it "trains" (adds a rank-dependent step), publishes, and polls until
 * the merged version is applied, printing the round time and w[0]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "psync_client.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A model with one f32 param "w" [n] behind a one-node graph. */
static psync_err flat_model(uint64_t n, float value, psync_model **out)
{
    uint64_t in[1] = {1}, shape[1] = {n};
    psync_tensor *t = NULL;
    psync_node node;
    psync_err e = psync_model_new(out);
    if (!e) e = psync_graph_add_input(&(*out)->graph, "x", PSYNC_DTYPE_F32, 1, in);
    if (!e)
        e = psync_model_add_tensor(*out, "w", PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 1, shape, NULL,
                                   &t);
    if (e) return e;
    for (uint64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = value;
    psync_node_init(&node, "fc", "dense");
    psync_node_add_input(&node, "x");
    psync_node_add_param(&node, "w");
    snprintf((*out)->graph.output, sizeof(*out)->graph.output, "fc");
    return psync_graph_add_node(&(*out)->graph, &node, 4, NULL);
}

/* Publishes m and polls until a merged version is applied. */
static psync_err one_round(psync_client *c, psync_model *m, uint64_t samples)
{
    bool applied = false;
    psync_err e = psync_client_publish(c, m, samples);
    for (int waited = 0; !e && !applied && waited < 60000; waited += 100)
        e = psync_client_poll(c, m, 100, &applied);
    if (!e && !applied) e = psync_fail(PSYNC_ETIMEOUT, "no merged version within 60 s");
    return e;
}

int main(int argc, char **argv)
{
    psync_client_opts o = {.rank = -1};
    uint64_t params = 1000;
    int rounds = 5;
    float value = 1.0f;
    bool seed = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed"))
            seed = true;
        else if (!strcmp(argv[i], "--params") && i + 1 < argc)
            params = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--value") && i + 1 < argc)
            value = strtof(argv[++i], NULL);
        else if (!strcmp(argv[i], "--addr") && i + 1 < argc)
            o.control = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            o.name = argv[++i];
        else {
            fprintf(stderr, "usage: psync-client-example [--seed] [--params N] [--value V] "
                            "[--rounds R] [--addr tcp://HOST:PORT] [--name NAME]\n");
            return 64;
        }
    }
    psync_log_set_context("example", -1);
    psync_client *c = NULL;
    psync_model *m = NULL;
    psync_err e = psync_client_new(&c, &o);
    if (!e && seed) e = flat_model(params, value, &m);
    if (!e) e = psync_client_join(c, &m, 60000);
    for (int r = 0; !e && r < rounds; r++) {
        float *w = psync_model_find(m, "w")->data;
        uint64_t n = psync_tensor_elems(psync_model_find(m, "w"));
        for (uint64_t i = 0; i < n; i++) /* stand-in for training */
            w[i] += 0.001f * (float)(psync_client_member_id(c) % 7);
        double t0 = now_ms();
        e = one_round(c, m, 100);
        if (!e)
            printf("round=%d version=%llu ms=%.1f w0=%.6f\n", r,
                   (unsigned long long)psync_client_held_version(c), now_ms() - t0, (double)w[0]);
        fflush(stdout);
    }
    if (e) fprintf(stderr, "psync-client-example: %s: %s\n", psync_strerror(e), psync_errdetail());
    psync_model_destroy(&m);
    psync_client_destroy(&c);
    return e ? 1 : 0;
}
