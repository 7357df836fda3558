/* modelfile.h: the human-readable model file (docs/model-format.md): one
 * declaration per line (inputs, layers, output, optimizer, training), compiled
 * into a psync_model with deterministically initialised parameters, the
 * optimizer's slots and the training state, ready for psync_engine_new. */
#ifndef PSYNC_MODELFILE_H
#define PSYNC_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

#define PSYNC_MODELFILE_MAX_BYTES (1u << 20) /* whole file */
#define PSYNC_MODELFILE_LINE_MAX 1024        /* one line, without newline */

/* Settings that replace the file's values (command-line flags). A field left
 * at zero / NULL keeps the file's value. */
typedef struct psync_model_overrides {
    const char *optimizer; /* "sgd", "momentum", "nesterov", "adam" */
    double lr;
    uint32_t batch_size;
    uint64_t seed;
    uint64_t epochs;
} psync_model_overrides;

/* Compiles model-file text (len bytes, need not be NUL-terminated; name is
 * used in messages) into a new model: graph, params "<node>.w"/"<node>.b"
 * initialised from the seed, optimizer with its slots, state (batch size,
 * rng) and metadata "epochs". ov may be NULL. Every error is PSYNC_EFORMAT /
 * PSYNC_EGRAPH / PSYNC_ESHAPE / PSYNC_ELIMIT with the detail
 * "name:line: what is wrong; expected ...". *out owned by the caller. */
psync_err psync_modelfile_parse(const char *text, size_t len, const char *name,
                                const psync_model_overrides *ov, psync_model **out);

/* Reads path (at most PSYNC_MODELFILE_MAX_BYTES) and parses it. */
psync_err psync_modelfile_load(const char *path, const psync_model_overrides *ov,
                               psync_model **out);

/* Re-seeds m->state.rng with seed and re-initialises every param from it,
 * following each node's "init" attribute (he, glorot, zeros; biases zero).
 * Slots are zeroed and the optimizer step reset. */
psync_err psync_model_init_params(psync_model *m, uint64_t seed);

#endif
