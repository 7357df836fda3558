/* inspect.h: shared pieces of `psync inspect` (inspect.c prints text,
 * inspect_json.c prints one JSON document). */
#ifndef PSYNC_CLI_INSPECT_H
#define PSYNC_CLI_INSPECT_H

#include <stdbool.h>
#include <stdio.h>

#include "model.h"

/* What is known about the blob being shown. */
typedef struct inspect_doc {
    const char *source; /* file name or "-" */
    size_t bytes;       /* blob size */
    const psync_model *m;
    uint64_t graph_hash, layout_hash;
} inspect_doc;

/* Summary of a tensor's values (params only). all_finite is false when any
 * element is NaN/Inf; min/max/mean then cover the finite ones. */
typedef struct inspect_stats {
    double min, max, mean;
    uint64_t nonfinite;
} inspect_stats;

void inspect_tensor_stats(const psync_tensor *t, inspect_stats *s);

void inspect_print_json(FILE *out, const inspect_doc *d);

#endif
