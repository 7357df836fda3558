/* modelfile_internal.h: what the model-file parser's files share: the parser
 * state (with the shape of every input and layer declared so far), error and
 * key=value helpers, and the layer and input line handlers. */
#ifndef PSYNC_MODELFILE_INTERNAL_H
#define PSYNC_MODELFILE_INTERNAL_H

#include <stdint.h>

#include "error.h"
#include "model.h"

#define MF_MAX_NODES 256
#define MF_NAME_MAX 48 /* leaves room for ".w" and "/momentum" suffixes */

typedef struct mf_shape {
    char name[PSYNC_NAME_MAX];
    psync_dtype dtype;
    uint32_t rank;
    uint64_t dims[PSYNC_MAX_RANK];
} mf_shape;

typedef struct mf_parser {
    const char *name; /* file name for messages */
    unsigned line;    /* current line, 1-based */
    psync_model *m;
    uint64_t seed, epochs;
    uint32_t n_shapes;
    mf_shape shapes[MF_MAX_NODES + PSYNC_GRAPH_MAX_INPUTS];
} mf_parser;

/* Records "name:line: message" as the error detail and returns code. */
psync_err mf_fail(mf_parser *p, psync_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails on any key=value token whose key is not in keys (NULL-terminated)
 * or that is not of the form key=value. */
psync_err mf_check_keys(mf_parser *p, char **tok, int ntok, const char *const *keys);
/* Reads key=INT / key=FLOAT / key=WORD among tok if present (else leaves *v),
 * checking the range [min, max]. */
psync_err mf_key_int(mf_parser *p, char **tok, int ntok, const char *key, int64_t *v, int64_t min,
                     int64_t max);
psync_err mf_key_float(mf_parser *p, char **tok, int ntok, const char *key, double *v, double min,
                       double max);
const char *mf_key_str(char **tok, int ntok, const char *key);

/* "input NAME DTYPE [DIM...]" and "OP NAME INPUT... [args]" lines. */
psync_err mf_input(mf_parser *p, char **tok, int ntok);
psync_err mf_layer(mf_parser *p, char **tok, int ntok);
/* True if word names a layer op; the comma-separated op list for messages. */
int mf_find_op(const char *word);
const char *mf_op_list(void);

#endif
