/* graph_test.c: building graphs, attributes, validation (cycles, dangling
 * edges, duplicates) and the stability of the graph hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "graph.h"
#include "testmodel.h"

static void test_attrs(void **state)
{
    psync_node n;
    psync_node_init(&n, "conv", "conv2d");
    const int64_t k[2] = {3, 3};
    assert_int_equal(psync_node_set_int(&n, "stride", 2), PSYNC_OK);
    assert_int_equal(psync_node_set_float(&n, "p", 0.25), PSYNC_OK);
    assert_int_equal(psync_node_set_str(&n, "pad", "same"), PSYNC_OK);
    assert_int_equal(psync_node_set_ints(&n, "kernel", 2, k), PSYNC_OK);
    assert_int_equal(psync_node_set_int(&n, "stride", 1), PSYNC_OK); /* replaces */
    assert_int_equal(n.n_attrs, 4);
    assert_int_equal(psync_node_int(&n, "stride", 9), 1);
    assert_int_equal(psync_node_int(&n, "missing", 9), 9);
    assert_int_equal(psync_node_int(&n, "p", 9), 9); /* wrong type: default */
    assert_float_equal(psync_node_float(&n, "p", 0), 0.25, 1e-12);
    assert_float_equal(psync_node_float(&n, "stride", 0), 1.0, 1e-12);
    assert_string_equal(psync_node_attr(&n, "pad")->s, "same");
    assert_int_equal(psync_node_attr(&n, "kernel")->n_ints, 2);
    assert_int_equal(psync_node_set_ints(&n, "big", PSYNC_MAX_RANK + 1, NULL), PSYNC_EINVAL);
    char longs[PSYNC_ATTR_STR_MAX + 1];
    memset(longs, 'a', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    assert_int_equal(psync_node_set_str(&n, "s", longs), PSYNC_EINVAL);
    for (int i = 0; i < 4; i++) {
        char key[8] = {'k', (char)('0' + i), 0};
        assert_int_equal(psync_node_set_int(&n, key, i), PSYNC_OK);
    }
    assert_int_equal(psync_node_set_int(&n, "one_too_many", 1), PSYNC_ELIMIT);
}

static psync_graph chain(void)
{
    psync_graph g;
    psync_graph_init(&g);
    const uint64_t s[1] = {4};
    psync_graph_add_input(&g, "x", PSYNC_DTYPE_F32, 1, s);
    psync_node n;
    psync_node_init(&n, "a", "relu");
    psync_node_add_input(&n, "x");
    psync_graph_add_node(&g, &n, 16, NULL);
    psync_node_init(&n, "b", "relu");
    psync_node_add_input(&n, "a");
    psync_graph_add_node(&g, &n, 16, NULL);
    strcpy(g.output, "b");
    return g;
}

static void test_validate(void **state)
{
    psync_graph g = chain();
    assert_int_equal(psync_graph_validate(&g), PSYNC_OK);
    assert_int_equal(psync_graph_find_node(&g, "b"), 1);
    assert_int_equal(psync_graph_find_input(&g, "x"), 0);
    assert_int_equal(psync_graph_find_node(&g, "zz"), -1);

    strcpy(g.nodes[0].inputs[0], "b"); /* a <- b <- a: a cycle */
    assert_int_equal(psync_graph_validate(&g), PSYNC_EGRAPH);
    assert_non_null(strstr(psync_errdetail(), "'a'"));
    strcpy(g.nodes[0].inputs[0], "nowhere"); /* dangling */
    assert_int_equal(psync_graph_validate(&g), PSYNC_EGRAPH);
    assert_non_null(strstr(psync_errdetail(), "nowhere"));
    strcpy(g.nodes[0].inputs[0], "x");
    strcpy(g.nodes[1].name, "a"); /* duplicate */
    assert_int_equal(psync_graph_validate(&g), PSYNC_EGRAPH);
    strcpy(g.nodes[1].name, "b");
    strcpy(g.loss, "nope");
    assert_int_equal(psync_graph_validate(&g), PSYNC_EGRAPH);
    g.loss[0] = 0;
    g.nodes[1].attrs[0].type = (psync_attr_type)9;
    g.nodes[1].n_attrs = 1;
    assert_int_equal(psync_graph_validate(&g), PSYNC_EGRAPH);
    psync_graph_clear(&g);
}

static void test_add_limits(void **state)
{
    psync_graph g = chain();
    psync_node n;
    psync_node_init(&n, "c", "relu");
    assert_int_equal(psync_graph_add_node(&g, &n, 2, NULL), PSYNC_ELIMIT);
    psync_node_init(&n, "", "relu");
    assert_int_equal(psync_graph_add_node(&g, &n, 16, NULL), PSYNC_EINVAL);
    for (int i = 1; i < PSYNC_GRAPH_MAX_INPUTS; i++)
        assert_int_equal(psync_graph_add_input(&g,
                                               i == 1   ? "y"
                                               : i == 2 ? "z"
                                                        : "w",
                                               PSYNC_DTYPE_I32, 0, NULL),
                         PSYNC_OK);
    assert_int_equal(psync_graph_add_input(&g, "v", PSYNC_DTYPE_I32, 0, NULL), PSYNC_ELIMIT);
    psync_graph_clear(&g);
}

static void test_hash_and_copy(void **state)
{
    psync_model *m = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    psync_graph copy;
    psync_graph_init(&copy);
    assert_int_equal(psync_graph_copy(&copy, &m->graph), PSYNC_OK);
    assert_ptr_not_equal(copy.nodes, m->graph.nodes);
    uint64_t h = psync_graph_hash(&m->graph);
    assert_int_equal(psync_graph_hash(&copy), h);

    /* attribute order does not matter, values do */
    psync_attr a0 = copy.nodes[0].attrs[0];
    copy.nodes[0].attrs[0] = copy.nodes[0].attrs[2];
    copy.nodes[0].attrs[2] = a0;
    assert_int_equal(psync_graph_hash(&copy), h);
    copy.nodes[0].attrs[0].f += 1e-9;
    assert_int_not_equal(psync_graph_hash(&copy), h);
    psync_graph_clear(&copy);
    psync_graph_init(&copy);
    assert_int_equal(psync_graph_hash(&copy), psync_graph_hash(&copy));
    psync_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_add_limits),
        cmocka_unit_test(test_hash_and_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
