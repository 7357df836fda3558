/* model.h: a whole trainable model in memory: graph, tensor table (params,
 * optimizer slots, buffers), optimizer, training state and metadata. All
 * tensor bytes live in ONE payload arena laid out exactly as in the blob
 * (each tensor at a 64-byte-aligned offset, zero padding between), so the
 * payload is also the flat vector that snapshots carry and psyncd merges.
 * This is psync's get_weights / set_weights API. */
#ifndef PSYNC_MODEL_H
#define PSYNC_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "graph.h"
#include "tensor.h"

#define PSYNC_META_MAX 16
#define PSYNC_META_KEY_MAX 32
#define PSYNC_META_VALUE_MAX 128
#define PSYNC_MODEL_HEADROOM 65536 /* bytes reserved before an owned payload */

typedef enum psync_opt_kind {
    PSYNC_OPT_SGD = 1,
    PSYNC_OPT_MOMENTUM = 2,
    PSYNC_OPT_NESTEROV = 3,
    PSYNC_OPT_ADAM = 4,
} psync_opt_kind;

/* Optimizer kind, hyper-parameters and step. Slot tensors are in the tensor
 * table with role PSYNC_ROLE_SLOT and name "<param>/<slot>": "/momentum" for
 * momentum and Nesterov, "/m" and "/v" for Adam. */
typedef struct psync_optimizer {
    psync_opt_kind kind;
    double lr;
    double momentum;     /* momentum, nesterov */
    double beta1, beta2; /* adam */
    double eps;          /* adam */
    double weight_decay; /* L2, added to the gradient */
    uint64_t step;       /* updates applied (adam bias correction uses it) */
} psync_optimizer;

/* Where training is: enough to continue bit-exactly in another process. */
typedef struct psync_train_state {
    uint64_t global_step; /* optimizer steps taken by this lineage */
    uint64_t samples_seen;
    uint64_t epoch;         /* current epoch (0-based) */
    uint64_t cursor;        /* position inside the epoch's permutation */
    uint64_t merge_version; /* merged version this state derives from */
    uint64_t rng[4];        /* xoshiro256** state */
    uint32_t batch_size;
} psync_train_state;

typedef struct psync_meta {
    char key[PSYNC_META_KEY_MAX];
    char value[PSYNC_META_VALUE_MAX];
} psync_meta;

typedef struct psync_model {
    psync_graph graph;
    uint32_t n_tensors;
    uint32_t cap_tensors;
    psync_tensor *tensors; /* owned array; data points into payload */
    psync_optimizer opt;
    psync_train_state state;
    uint32_t n_meta;
    psync_meta meta[PSYNC_META_MAX];
    uint8_t *payload;     /* 64-byte-aligned arena of payload_len bytes */
    uint64_t payload_len; /* sum of aligned tensor sizes */
    uint64_t payload_cap;
    bool payload_owned; /* false: borrowed from a decoded blob */
    void *blob;         /* blob buffer freed on destroy, or NULL */
    uint8_t *arena;     /* allocation holding headroom + owned payload */
    uint64_t headroom;  /* writable bytes owned by the model just before
                           payload: psync_blob_freeze writes the header there */
} psync_model;

/* Creates an empty model (SGD, lr 0.01). *out owned by the caller. */
psync_err psync_model_new(psync_model **out);
/* Frees the model, its arena if owned and its blob if it took one; accepts
 * NULL and *m == NULL; sets *m to NULL. */
void psync_model_destroy(psync_model **m);
/* Deep copy into a new model that owns its arena. */
psync_err psync_model_clone(const psync_model *src, psync_model **out);

/* Appends a tensor at the end of the payload (owned arena, which may move:
 * earlier data pointers are refreshed). data is copied (NULL: zeros). The
 * name must be unique (PSYNC_EINVAL). *out (optional) valid until next add. */
psync_err psync_model_add_tensor(psync_model *m, const char *name, psync_role role, psync_dtype dt,
                                 uint32_t rank, const uint64_t *shape, const void *data,
                                 psync_tensor **out);

/* Tensor by name or NULL. */
psync_tensor *psync_model_find(const psync_model *m, const char *name);
/* get_weights for one tensor: PSYNC_ENOTFOUND if absent. The tensor stays
 * owned by the model. */
psync_err psync_model_get(const psync_model *m, const char *name, const psync_tensor **out);
/* set_weights for one tensor: copies data in after checking dtype and shape
 * (PSYNC_EDTYPE / PSYNC_ESHAPE with a detail). Makes the arena owned first
 * if it was borrowed. */
psync_err psync_model_set(psync_model *m, const char *name, psync_dtype dt, uint32_t rank,
                          const uint64_t *shape, const void *data);

/* Copies a borrowed arena into an owned one so the blob may be freed. No-op
 * if already owned. */
psync_err psync_model_own(psync_model *m);

/* Ensures at least room writable bytes owned by the model precede its
 * payload (copying a borrowed or too-tight arena once), so a blob header can
 * be written in front of the payload without moving it (psync_blob_freeze). */
psync_err psync_model_reserve_headroom(psync_model *m, uint64_t room);

/* Sets or replaces a metadata entry (copied, truncated to the limits). */
psync_err psync_model_set_meta(psync_model *m, const char *key, const char *value);
const char *psync_model_get_meta(const psync_model *m, const char *key);

/* Slot name helper: writes "<param>/<slot>" into out (PSYNC_NAME_MAX). */
psync_err psync_slot_name(char *out, const char *param, const char *slot);

/* Layout hash: the graph hash combined with every tensor's name, role,
 * dtype, shape and offset. Two models with the same layout hash have
 * interchangeable payloads; this is the "graph hash" on the wire. */
uint64_t psync_model_layout_hash(const psync_model *m);

/* Checks that every f32/f64 tensor (of the given role mask, bit (1<<role))
 * is finite; PSYNC_ENONFINITE naming the first bad tensor and index. */
psync_err psync_model_check_finite(const psync_model *m, unsigned role_mask);

/* Name of an optimizer kind ("sgd", "momentum", "nesterov", "adam") or NULL. */
const char *psync_opt_name(psync_opt_kind k);
psync_err psync_opt_parse(const char *name, psync_opt_kind *out);

#endif
