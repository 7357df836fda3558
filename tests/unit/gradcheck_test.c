/* gradcheck_test.c: the engine's gradients against central finite
 * differences for every op (an op's input gradient is checked through the
 * params upstream of it), plus the RNG, compile errors, dropout
 * determinism, prediction and bit-exact resume of a cloned model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "engine_testnet.h"
#include "rng.h"

enum { GC_BATCH = 3, GC_MAX_CHECKS = 48 };

/* Loss of a training forward with the RNG rewound to rng0 (fixed masks). */
static float gc_loss(psync_engine *e, psync_model *m, const uint64_t rng0[4], const float *x,
                     const int32_t *y)
{
    float loss = 0.0f;
    memcpy(m->state.rng, rng0, sizeof m->state.rng);
    assert_int_equal(psync_engine_forward(e, x, y, GC_BATCH, true, &loss), PSYNC_OK);
    return loss;
}

/* Compares one param's analytic gradient with central differences. */
static void gc_param(psync_engine *e, psync_model *m, const psync_tensor *t, const uint64_t *rng0,
                     const float *x, const int32_t *y)
{
    const uint64_t n = psync_tensor_elems(t), step = n / GC_MAX_CHECKS + 1;
    const float *g = psync_engine_grad(e, t->name), h = 1e-3f;
    float *w = t->data, *analytic = malloc(n * sizeof(float));
    assert_non_null(g);
    memcpy(analytic, g, n * sizeof(float));
    for (uint64_t i = 0; i < n; i += step) {
        const float saved = w[i];
        w[i] = saved + h;
        double lp = gc_loss(e, m, rng0, x, y);
        w[i] = saved - h;
        double lm = gc_loss(e, m, rng0, x, y);
        w[i] = saved;
        double num = (lp - lm) / (2.0 * h), err = fabs(num - analytic[i]);
        if (err > 1e-3 + 2e-2 * fabs(num))
            fail_msg("%s[%llu]: analytic %g numeric %g", t->name, (unsigned long long)i,
                     analytic[i], num);
    }
    free(analytic);
}

/* Builds an engine over m and checks every param's gradient. */
static void gc_check(psync_model *m, uint32_t in_size, uint32_t classes)
{
    psync_engine *e = NULL;
    uint64_t rng0[4], data_rng[4];
    float x[GC_BATCH * 256];
    int32_t y[GC_BATCH];
    assert_non_null(m);
    assert_true(in_size <= 256);
    assert_int_equal(psync_engine_new(m, GC_BATCH, &e), PSYNC_OK);
    psync_rng_seed(data_rng, 99);
    tnet_fill(data_rng, x, (uint64_t)GC_BATCH * in_size, 1.0f);
    for (int i = 0; i < GC_BATCH; i++)
        y[i] = (int32_t)psync_rng_below(data_rng, classes);
    psync_rng_seed(rng0, 7);
    gc_loss(e, m, rng0, x, y);
    assert_int_equal(psync_engine_backward(e), PSYNC_OK);
    for (uint32_t i = 0; i < m->n_tensors; i++)
        gc_param(e, m, &m->tensors[i], rng0, x, y);
    psync_engine_destroy(&e);
    psync_model_destroy(&m);
}

static void test_grad_dense_act(void **state)
{
    static const char *const acts[] = {"relu", "tanh", "sigmoid"};
    for (int i = 0; i < 3; i++) {
        tnet t;
        uint64_t in = 6;
        tnet_begin(&t, 11 + (uint64_t)i, 1, &in);
        tnet_dense(&t, "fc1", 6, 5);
        tnet_op(&t, "act", acts[i], NULL, 0, NULL, 0);
        tnet_dense(&t, "fc2", 5, 4);
        gc_check(tnet_end(&t), 6, 4);
    }
}

static void test_grad_dropout(void **state)
{
    tnet t;
    uint64_t in = 6;
    tnet_begin(&t, 3, 1, &in);
    tnet_dense(&t, "fc1", 6, 8);
    tnet_dropout(&t, "drop", 0.4);
    tnet_dense(&t, "fc2", 8, 3);
    gc_check(tnet_end(&t), 6, 3);
}

static void test_grad_conv_pool(void **state)
{
    tnet t;
    uint64_t in[3] = {2, 6, 6};
    tnet_begin(&t, 5, 3, in);
    tnet_conv(&t, "c1", 2, 3, 3, 1, 1);
    tnet_op(&t, "r1", "relu", NULL, 0, NULL, 0);
    tnet_conv(&t, "c2", 3, 4, 3, 2, 1);                    /* 6x6 -> 3x3 */
    tnet_op(&t, "p", "maxpool2d", "size", 2, "stride", 1); /* 3x3 -> 2x2 */
    tnet_op(&t, "f", "flatten", NULL, 0, NULL, 0);
    tnet_dense(&t, "fc", 16, 5);
    gc_check(tnet_end(&t), 72, 5);
}

static void test_grad_reshape(void **state)
{
    tnet t;
    uint64_t in = 5;
    psync_node *n;
    tnet_begin(&t, 8, 1, &in);
    tnet_dense(&t, "fc1", 5, 18);
    tnet_op(&t, "rs", "reshape", NULL, 0, NULL, 0);
    n = &t.m->graph.nodes[t.m->graph.n_nodes - 1];
    assert_int_equal(psync_node_set_ints(n, "shape", 3, (int64_t[]){2, -1, 3}), PSYNC_OK);
    tnet_conv(&t, "c", 2, 2, 2, 1, 0);                 /* [2,3,3] -> [2,2,2] */
    tnet_op(&t, "p", "maxpool2d", "size", 2, NULL, 0); /* [2,1,1] */
    tnet_dense(&t, "fc2", 2, 3);                       /* reads it flattened */
    gc_check(tnet_end(&t), 5, 3);
}

static void test_rng(void **state)
{
    uint64_t a[4], b[4];
    psync_rng_seed(a, 0);
    assert_true(a[0] == 0xe220a8397b1dcdafull); /* splitmix64(0), first output */
    psync_rng_seed(b, 0);
    for (int i = 0; i < 1000; i++) {
        float u = psync_rng_uniform_f32(a);
        assert_true(u >= 0.0f && u < 1.0f);
        assert_true(psync_rng_uniform_f32(b) == u);
        assert_true(psync_rng_below(a, 7) < 7 && psync_rng_below(b, 7) < 7);
    }
    assert_int_equal(psync_rng_below(a, 0), 0);
    assert_int_equal(psync_rng_below(a, 1), 0);
}

/* A small valid MLP whose first node the error tests then break. */
static psync_model *err_model(void)
{
    tnet t;
    uint64_t in = 4;
    tnet_begin(&t, 1, 1, &in);
    tnet_dense(&t, "fc", 4, 3);
    return tnet_end(&t);
}

static void expect_new_error(psync_model *m, psync_err want, const char *needle)
{
    psync_engine *e = NULL;
    assert_int_equal(psync_engine_new(m, 4, &e), want);
    assert_null(e);
    if (!strstr(psync_errdetail(), needle))
        fail_msg("detail \"%s\" lacks \"%s\"", psync_errdetail(), needle);
    psync_model_destroy(&m);
}

static void test_compile_errors(void **state)
{
    psync_model *m = err_model();
    snprintf(m->graph.nodes[0].op, PSYNC_OP_MAX, "bogus");
    expect_new_error(m, PSYNC_EGRAPH, "node 'fc': unknown op 'bogus'");
    m = err_model();
    snprintf(m->graph.nodes[0].params[0], PSYNC_NAME_MAX, "nope");
    expect_new_error(m, PSYNC_ENOTFOUND, "'nope'");
    m = err_model();
    m->graph.inputs[0].shape[0] = 5;
    expect_new_error(m, PSYNC_ESHAPE, "fc.w");
    m = err_model();
    m->graph.inputs[0].rank = 2;
    m->graph.inputs[0].shape[0] = m->graph.inputs[0].shape[1] = 1ull << 31;
    expect_new_error(m, PSYNC_ELIMIT, "graph input 'x'");
    m = err_model();
    snprintf(m->graph.nodes[0].inputs[0], PSYNC_NAME_MAX, "y");
    expect_new_error(m, PSYNC_EDTYPE, "node 'fc' (dense): input 0 'y'");
    m = err_model();
    m->opt.kind = PSYNC_OPT_ADAM;
    m->opt.beta1 = 0.9, m->opt.beta2 = 0.999, m->opt.eps = 1e-8;
    expect_new_error(m, PSYNC_ENOTFOUND, "fc.w/m");
}

static void test_slots_and_step(void **state)
{
    psync_model *m = err_model();
    psync_engine *e = NULL;
    float x[8] = {1, 2, 3, 4, -1, -2, 0.5f, 0}, first = 0, loss = 0;
    int32_t y[2] = {2, 0};
    uint32_t correct = 0;
    m->opt.kind = PSYNC_OPT_MOMENTUM;
    m->opt.momentum = 0.9;
    assert_int_equal(psync_optim_init_slots(m), PSYNC_OK);
    assert_non_null(psync_model_find(m, "fc.b/momentum"));
    assert_int_equal(psync_engine_new(m, 2, &e), PSYNC_OK);
    assert_int_equal(psync_engine_input_size(e), 4);
    assert_int_equal(psync_engine_classes(e), 3);
    assert_int_equal(psync_engine_update(e), PSYNC_EINVAL);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(psync_engine_train_step(e, x, y, 2, &loss, &correct), PSYNC_OK);
        first = i ? first : loss;
    }
    assert_true(loss < 0.5f * first);
    assert_int_equal(correct, 2);
    assert_int_equal(m->state.global_step, 30);
    assert_int_equal(m->state.samples_seen, 60);
    assert_int_equal(m->opt.step, 30);
    m->opt.kind = PSYNC_OPT_ADAM; /* switched without slots: refused, not a crash */
    assert_int_equal(psync_engine_train_step(e, x, y, 2, &loss, NULL), PSYNC_EINVAL); /* eps 0 */
    m->opt.beta1 = 0.9, m->opt.beta2 = 0.999, m->opt.eps = 1e-8;
    assert_int_equal(psync_engine_train_step(e, x, y, 2, &loss, NULL), PSYNC_ENOTFOUND);
    m->opt.kind = PSYNC_OPT_MOMENTUM; /* back to the slots it has */
    assert_int_equal(psync_engine_train_step(e, x, y, 2, &loss, NULL), PSYNC_OK);
    y[0] = 3;
    assert_int_equal(psync_engine_forward(e, x, y, 2, true, &loss), PSYNC_EINVAL);
    assert_int_equal(psync_engine_forward(e, x, y, 3, true, &loss), PSYNC_EINVAL);
    psync_engine_destroy(&e);
    psync_model_destroy(&m);
}

static void test_predict(void **state)
{
    psync_model *m = err_model();
    psync_engine *e = NULL;
    uint64_t rng[4];
    float x[7 * 4], scores[7 * 3];
    int32_t classes[7];
    psync_rng_seed(rng, 4);
    tnet_fill(rng, x, 28, 2.0f);
    assert_int_equal(psync_engine_new(m, 3, &e), PSYNC_OK);
    assert_int_equal(psync_engine_predict(e, x, 7, classes, scores), PSYNC_OK);
    for (int r = 0; r < 7; r++) {
        const float *s = scores + r * 3;
        assert_float_equal(s[0] + s[1] + s[2], 1.0f, 1e-5f);
        assert_true(s[classes[r]] >= s[0] && s[classes[r]] >= s[1] && s[classes[r]] >= s[2]);
    }
    assert_int_equal(psync_engine_forward(e, x + 6 * 4, NULL, 1, false, NULL), PSYNC_OK);
    const float *z = psync_engine_output(e);
    assert_true(z[classes[6]] >= z[0] && z[classes[6]] >= z[1] && z[classes[6]] >= z[2]);
    psync_engine_destroy(&e);
    psync_model_destroy(&m);
}

/* Trains k steps of a dropout MLP with Adam on a fixed batch. */
static void resume_train(psync_model *m, int k)
{
    psync_engine *e = NULL;
    uint64_t rng[4];
    float x[4 * 6];
    int32_t y[4] = {0, 1, 2, 1};
    psync_rng_seed(rng, 21);
    tnet_fill(rng, x, 24, 1.0f);
    assert_int_equal(psync_engine_new(m, 4, &e), PSYNC_OK);
    for (int i = 0; i < k; i++)
        assert_int_equal(psync_engine_train_step(e, x, y, 4, NULL, NULL), PSYNC_OK);
    psync_engine_destroy(&e);
}

static void test_resume_bit_exact(void **state)
{
    tnet t;
    uint64_t in = 6;
    psync_model *a, *b = NULL;
    tnet_begin(&t, 9, 1, &in);
    tnet_dense(&t, "fc1", 6, 16);
    tnet_dropout(&t, "drop", 0.5);
    tnet_dense(&t, "fc2", 16, 3);
    a = tnet_end(&t);
    a->opt = (psync_optimizer){PSYNC_OPT_ADAM, 0.01, 0, 0.9, 0.999, 1e-8, 0.01, 0};
    psync_rng_seed(a->state.rng, 5);
    assert_int_equal(psync_optim_init_slots(a), PSYNC_OK);
    resume_train(a, 3);
    assert_int_equal(psync_model_clone(a, &b), PSYNC_OK);
    resume_train(a, 4);
    resume_train(b, 4);
    assert_int_equal(a->payload_len, b->payload_len);
    assert_memory_equal(a->payload, b->payload, a->payload_len);
    assert_memory_equal(a->state.rng, b->state.rng, sizeof a->state.rng);
    assert_int_equal(b->opt.step, 7);
    psync_model_destroy(&a);
    psync_model_destroy(&b);
}

/* Growing the model's arena moves every tensor; after rebind the engine
 * trains the moved tensors (ASan would catch writes to the old arena). */
static void test_rebind(void **state)
{
    psync_model *m = err_model();
    psync_engine *e = NULL;
    float x[4] = {1, -1, 0.5f, 2}, before[3];
    int32_t y[1] = {1};
    uint64_t big = 1u << 20;
    assert_int_equal(psync_engine_new(m, 1, &e), PSYNC_OK);
    const uint8_t *old = m->payload;
    assert_int_equal(
        psync_model_add_tensor(m, "extra", PSYNC_ROLE_BUFFER, PSYNC_DTYPE_F32, 1, &big, NULL, NULL),
        PSYNC_OK);
    assert_ptr_not_equal(m->payload, old);
    assert_int_equal(psync_engine_rebind(e), PSYNC_OK);
    memcpy(before, psync_model_find(m, "fc.b")->data, sizeof before);
    assert_int_equal(psync_engine_train_step(e, x, y, 1, NULL, NULL), PSYNC_OK);
    assert_memory_not_equal(before, psync_model_find(m, "fc.b")->data, sizeof before);
    psync_engine_destroy(&e);
    psync_model_destroy(&m);
}

/* Dropout is the identity and draws nothing when not training. */
static void test_dropout_inference(void **state)
{
    tnet t;
    uint64_t in = 4, rng[4];
    psync_engine *e = NULL;
    float x[4] = {1, 2, 3, 4}, z[3];
    tnet_begin(&t, 2, 1, &in);
    tnet_dense(&t, "fc1", 4, 8);
    tnet_dropout(&t, "drop", 0.5);
    tnet_dense(&t, "fc2", 8, 3);
    psync_model *m = tnet_end(&t);
    psync_rng_seed(m->state.rng, 1);
    memcpy(rng, m->state.rng, sizeof rng);
    assert_int_equal(psync_engine_new(m, 1, &e), PSYNC_OK);
    assert_int_equal(psync_engine_forward(e, x, NULL, 1, false, NULL), PSYNC_OK);
    memcpy(z, psync_engine_output(e), sizeof z);
    assert_memory_equal(rng, m->state.rng, sizeof rng);
    assert_int_equal(psync_engine_forward(e, x, NULL, 1, true, NULL), PSYNC_OK);
    assert_memory_not_equal(rng, m->state.rng, sizeof rng);
    assert_int_equal(psync_engine_backward(e), PSYNC_EINVAL); /* no labels, no loss */
    assert_int_equal(psync_engine_forward(e, x, NULL, 1, false, NULL), PSYNC_OK);
    assert_memory_equal(z, psync_engine_output(e), sizeof z);
    psync_engine_destroy(&e);
    psync_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_grad_dense_act),
        cmocka_unit_test(test_grad_dropout),
        cmocka_unit_test(test_grad_conv_pool),
        cmocka_unit_test(test_grad_reshape),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_slots_and_step),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_rebind),
        cmocka_unit_test(test_dropout_inference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
