/* modelfile_test.c: the model-file compiler. Good files give the expected
 * tensors, slots, optimizer and state with deterministic initialisation;
 * each kind of mistake is reported as "file:line: what; expected ...". */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modelfile.h"

static const char mlp_text[] = "# 784-256-128-10 MLP\n"
                               "input x f32 784\n"
                               "input y i32\n"
                               "dense fc1 x 256 init=he\n"
                               "relu a1 fc1\n"
                               "dense fc2 a1 128\n"
                               "relu a2 fc2\n"
                               "dense logits a2 10 init=glorot   # last layer\n"
                               "softmax_xent loss logits y\n"
                               "output logits\n"
                               "optimizer adam lr=0.002 beta1=0.8 beta2=0.99 eps=1e-7\n"
                               "train batch_size=32 epochs=3 seed=7\n";

static psync_model *compile(const char *text, const psync_model_overrides *ov)
{
    psync_model *m = NULL;
    psync_err err = psync_modelfile_parse(text, strlen(text), "t.psync", ov, &m);
    if (err) fail_msg("unexpected error %s: %s", psync_strerror(err), psync_errdetail());
    return m;
}

static void assert_shape(const psync_model *m, const char *name, uint32_t rank, uint64_t d0,
                         uint64_t d1, uint64_t d2, uint64_t d3)
{
    const psync_tensor *t = psync_model_find(m, name);
    uint64_t want[4] = {d0, d1, d2, d3};
    assert_non_null(t);
    assert_int_equal(t->rank, rank);
    for (uint32_t i = 0; i < rank; i++)
        assert_int_equal(t->shape[i], want[i]);
}

static void test_mlp_compiles(void **state)
{
    psync_model *m = compile(mlp_text, NULL);
    assert_int_equal(m->graph.n_nodes, 6);
    assert_string_equal(m->graph.output, "logits");
    assert_string_equal(m->graph.loss, "loss");
    assert_shape(m, "fc1.w", 2, 784, 256, 0, 0);
    assert_shape(m, "fc1.b", 1, 256, 0, 0, 0);
    assert_shape(m, "logits.w", 2, 128, 10, 0, 0);
    assert_shape(m, "fc1.w/m", 2, 784, 256, 0, 0);
    assert_shape(m, "logits.b/v", 1, 10, 0, 0, 0);
    assert_int_equal(m->opt.kind, PSYNC_OPT_ADAM);
    assert_float_equal(m->opt.lr, 0.002, 1e-12);
    assert_float_equal(m->opt.beta1, 0.8, 1e-12);
    assert_float_equal(m->opt.eps, 1e-7, 1e-15);
    assert_int_equal(m->state.batch_size, 32);
    assert_string_equal(psync_model_get_meta(m, "epochs"), "3");
    psync_model_destroy(&m);
}

/* He-uniform weights stay within sqrt(6/fan_in), are not all equal, biases 0. */
static void test_init_ranges(void **state)
{
    psync_model *m = compile(mlp_text, NULL);
    const psync_tensor *w = psync_model_find(m, "fc1.w"), *b = psync_model_find(m, "fc1.b");
    const float *wf = w->data, *bf = b->data;
    float lim = sqrtf(6.0f / 784.0f), lo = 1, hi = -1;
    for (uint64_t i = 0; i < psync_tensor_elems(w); i++) {
        assert_true(fabsf(wf[i]) <= lim);
        lo = wf[i] < lo ? wf[i] : lo;
        hi = wf[i] > hi ? wf[i] : hi;
    }
    assert_true(hi - lo > lim); /* spread over the range */
    for (uint64_t i = 0; i < psync_tensor_elems(b); i++)
        assert_true(bf[i] == 0.0f);
    psync_model_destroy(&m);
}

static void test_seed_determines_weights(void **state)
{
    psync_model *a = compile(mlp_text, NULL), *b = compile(mlp_text, NULL);
    psync_model_overrides ov = {.seed = 8, .optimizer = "momentum", .lr = 0.5, .batch_size = 5};
    psync_model *c = compile(mlp_text, &ov);
    const psync_tensor *ta = psync_model_find(a, "fc2.w"), *tb = psync_model_find(b, "fc2.w");
    const psync_tensor *tc = psync_model_find(c, "fc2.w");
    assert_memory_equal(ta->data, tb->data, ta->nbytes);
    assert_memory_equal(a->state.rng, b->state.rng, sizeof a->state.rng);
    assert_memory_not_equal(ta->data, tc->data, ta->nbytes);
    assert_int_equal(c->opt.kind, PSYNC_OPT_MOMENTUM);
    assert_float_equal(c->opt.lr, 0.5, 0);
    assert_int_equal(c->state.batch_size, 5);
    assert_non_null(psync_model_find(c, "fc2.w/momentum"));
    assert_null(psync_model_find(c, "fc2.w/m"));
    psync_model_destroy(&a);
    psync_model_destroy(&b);
    psync_model_destroy(&c);
}

static void test_cnn_shapes(void **state)
{
    psync_model *m = compile("input x f32 1 28 28\ninput y i32\n"
                             "conv2d c1 x out=8 k=3 pad=1\nrelu r1 c1\n"
                             "maxpool2d p1 r1 size=2\nconv2d c2 p1 out=4 k=5 stride=2\n"
                             "flatten f c2\ndropout d f rate=0.25\ndense o d 10\n"
                             "softmax_xent loss o y\noutput o\n",
                             NULL);
    assert_shape(m, "c1.w", 4, 8, 1, 3, 3);
    assert_shape(m, "c2.w", 4, 4, 8, 5, 5);
    assert_shape(m, "o.w", 2, 4 * 5 * 5, 10, 0, 0); /* 14 -> (14-5)/2+1 = 5 */
    assert_int_equal(m->opt.kind, PSYNC_OPT_SGD);
    const psync_node *d = &m->graph.nodes[psync_graph_find_node(&m->graph, "d")];
    assert_float_equal(psync_node_float(d, "rate", 0), 0.25, 1e-12);
    psync_model_destroy(&m);
}

typedef struct bad_case {
    const char *text;
    const char *expect; /* substring of the detail, with file:line */
} bad_case;

#define HEAD "input x f32 784\ninput y i32\n"
static const bad_case bad_cases[] = {
    {HEAD "bogus a b\n", "t.psync:3: unknown keyword 'bogus'"},
    {HEAD "dense h q 10\n", "t.psync:3: input 'q' is not declared above"},
    {HEAD "dense x x 10\n", "t.psync:3: 'x' is already declared"},
    {HEAD "dense h x 10 foo=1\n", "t.psync:3: unknown option 'foo=1'; expected init"},
    {HEAD "dense h x ten\n", "t.psync:3: width 'ten'"},
    {HEAD "dense h x\n", "t.psync:3: 2 arguments before the options; expected 'dense NAME "
                         "INPUT UNITS'"},
    {HEAD "dense h x 10 init=ones\n", "t.psync:3: init=ones; expected he, glorot or zeros"},
    {HEAD "conv2d c x out=4 k=3\n", "t.psync:3: input 'x' has rank 1; expected [C,H,W]"},
    {"input x f32 1 4 4\ninput y i32\nconv2d c x out=4 k=9\n", "t.psync:3: window 9 is larger"},
    {"input x f32 1 4 4\nconv2d c x k=3\n", "t.psync:2: conv2d needs out=CHANNELS"},
    {HEAD "dropout d x rate=2\n", "t.psync:3: rate=2; expected a number in [0, 0.99]"},
    {HEAD "dropout d x\n", "t.psync:3: dropout needs rate=R"},
    {HEAD "dense h x 10\nsoftmax_xent l h x\n", "t.psync:4: labels 'x' must be an 'input NAME "
                                                "i32' line"},
    {HEAD "dense h y 10\n", "t.psync:3: input 'y' holds labels"},
    {"input x f16 3\n", "t.psync:1: dtype 'f16'; expected f32 or i32"},
    {"input x f32\n", "t.psync:1: 0 dimensions; expected none for i32 labels, 1-3"},
    {"input x f32 0\n", "t.psync:1: dimension '0'"},
    {"input bad-name f32 3\n", "t.psync:1: name 'bad-name'"},
    {HEAD "dense h x 10\nsoftmax_xent l h y\n", "t.psync:4: no 'output NODE' line"},
    {HEAD "dense h x 10\noutput h\n", "no loss layer"},
    {HEAD "output nothing\n", "t.psync:3: output 'nothing' is not a layer declared above"},
    {HEAD "optimizer rmsprop\n", "t.psync:3: optimizer kind 'rmsprop'; expected sgd, momentum"},
    {HEAD "optimizer sgd lr=-1\n", "t.psync:3: lr=-1; expected a number in [0, 1e+06]"},
    {HEAD "optimizer sgd lr\n", "t.psync:3: 'lr' after options; expected key=value"},
    {HEAD "train batch_size=0\n", "t.psync:3: batch_size=0; expected an integer in 1..1048576"},
    {HEAD "train seed=abc\n", "t.psync:3: seed=abc; expected an integer"},
    {HEAD "\n\n", "t.psync:4: no layers"},
};

static void test_errors_name_the_line(void **state)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        psync_model *m = (psync_model *)1;
        psync_err err = psync_modelfile_parse(bad_cases[i].text, strlen(bad_cases[i].text),
                                              "t.psync", NULL, &m);
        if (err == PSYNC_OK || !strstr(psync_errdetail(), bad_cases[i].expect))
            fail_msg("case %zu: got %d '%s', expected '%s'", i, err, psync_errdetail(),
                     bad_cases[i].expect);
        assert_null(m);
    }
}

static void test_limits(void **state)
{
    char text[4096];
    psync_model *m = NULL;
    memset(text, 'a', sizeof text);
    memcpy(text, "input x f32 3\n", 14);
    assert_int_equal(psync_modelfile_parse(text, sizeof text, "t.psync", NULL, &m), PSYNC_ELIMIT);
    assert_non_null(strstr(psync_errdetail(), "t.psync:2: line of 4082 bytes; at most 1024"));
    const char nul[] = "input x f32 3\0\n";
    assert_int_equal(psync_modelfile_parse(nul, sizeof nul - 1, "t.psync", NULL, &m),
                     PSYNC_EFORMAT);
    assert_non_null(strstr(psync_errdetail(), "t.psync:1: NUL byte"));
    assert_int_equal(psync_modelfile_load("/nonexistent/m.psync", NULL, &m), PSYNC_ENOTFOUND);
}

/* The shipped models compile (the same files the integration tests train). */
static void test_shipped_models(void **state)
{
    const char *src = getenv("PSYNC_SOURCE_DIR");
    const char *names[] = {"mlp.psync", "cnn.psync"};
    if (!src) skip();
    for (int i = 0; i < 2; i++) {
        char path[4096];
        psync_model *m = NULL;
        snprintf(path, sizeof path, "%s/deploy/models/%s", src, names[i]);
        psync_err err = psync_modelfile_load(path, NULL, &m);
        if (err) fail_msg("%s: %s", path, psync_errdetail());
        assert_string_equal(m->graph.output, "logits");
        psync_model_destroy(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_compiles),
        cmocka_unit_test(test_init_ranges),
        cmocka_unit_test(test_seed_determines_weights),
        cmocka_unit_test(test_cnn_shapes),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_shipped_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
