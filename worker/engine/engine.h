/* engine.h: executes a psync graph with OpenBLAS: forward, backward and the
 * optimizer update, in place on a model's tensors. The model (graph, params,
 * slots, optimizer, training state) is the whole state; the engine only owns
 * scratch buffers (activations, gradients), so freezing a model mid-training
 * and resuming it elsewhere continues bit-exactly. */
#ifndef PSYNC_ENGINE_H
#define PSYNC_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct psync_engine psync_engine;

/* Adds the optimizer's slot tensors ("<param>/momentum", "<param>/m",
 * "<param>/v", zero-filled) for every param that lacks them. Call before
 * psync_engine_new (it may move the payload arena). */
psync_err psync_optim_init_slots(psync_model *m);

/* Compiles m's graph for batches of up to max_batch samples: checks every
 * op is known, params exist with the right shapes, shapes propagate.
 * PSYNC_EGRAPH / PSYNC_ESHAPE / PSYNC_ENOTFOUND with a detail. The model is
 * borrowed and must outlive the engine; if its payload arena is replaced
 * (not just overwritten) call psync_engine_rebind. */
psync_err psync_engine_new(psync_model *m, uint32_t max_batch, psync_engine **out);
void psync_engine_destroy(psync_engine **e);
/* Re-reads tensor data pointers from the model after its arena moved. */
psync_err psync_engine_rebind(psync_engine *e);

/* Per-sample input size (elements of the first f32 input) and class count
 * (width of the output node). */
uint32_t psync_engine_input_size(const psync_engine *e);
uint32_t psync_engine_classes(const psync_engine *e);

/* Forward pass on batch samples x (batch * input_size f32) with labels y
 * (i32, may be NULL when not computing the loss). training=true enables
 * dropout (drawing from m->state.rng). *loss gets the mean loss if y and the
 * graph has a loss (may be NULL). */
psync_err psync_engine_forward(psync_engine *e, const float *x, const int32_t *y, uint32_t batch,
                               bool training, float *loss);
/* Backward pass of the last training forward; gradients stay in the engine. */
psync_err psync_engine_backward(psync_engine *e);
/* Optimizer update of every param (and slot) from the last backward;
 * increments m->opt.step. */
psync_err psync_engine_update(psync_engine *e);
/* forward(training) + backward + update; also counts correct predictions
 * (correct may be NULL) and advances m->state.global_step, samples_seen. */
psync_err psync_engine_train_step(psync_engine *e, const float *x, const int32_t *y, uint32_t batch,
                                  float *loss, uint32_t *correct);

/* Output (logits) of the last forward: batch x classes, row-major. */
const float *psync_engine_output(const psync_engine *e);
/* Gradient of a param after backward (same layout as the param) or NULL. */
const float *psync_engine_grad(const psync_engine *e, const char *param);

/* Index of the largest of n scores (the first one on ties); 0 if n == 0.
 * The class the engine predicts for one row of logits. */
uint32_t psync_engine_argmax(const float *scores, uint32_t n);

/* Inference in chunks of max_batch: argmax classes (n i32) and optionally
 * the scores (n x classes softmax probabilities; may be NULL). */
psync_err psync_engine_predict(psync_engine *e, const float *x, uint64_t n, int32_t *classes,
                               float *scores);

#endif
