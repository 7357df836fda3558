/* flatmodel.c: builds the flat benchmark model of flatmodel.h. */
#include "flatmodel.h"

#include <stdio.h>

psync_err bench_flat_model(uint64_t n, float value, psync_model **out)
{
    uint64_t in[1] = {1}, shape[2] = {1, n};
    psync_tensor *t = NULL;
    psync_node node;
    psync_err err = psync_model_new(out);
    if (!err) err = psync_graph_add_input(&(*out)->graph, "x", PSYNC_DTYPE_F32, 1, in);
    if (!err)
        err = psync_model_add_tensor(*out, "fc.w", PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 2, shape,
                                     NULL, &t);
    for (uint64_t i = 0; !err && i < n; i++)
        ((float *)t->data)[i] = value;
    psync_node_init(&node, "fc", "dense");
    psync_node_add_input(&node, "x");
    psync_node_add_param(&node, "fc.w");
    if (!err && *out) snprintf((*out)->graph.output, sizeof(*out)->graph.output, "fc");
    if (!err) err = psync_graph_add_node(&(*out)->graph, &node, 4, NULL);
    if (err) psync_model_destroy(out);
    return err;
}
