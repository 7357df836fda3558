/* optim.c: the optimizers, in PyTorch's formulation so results match
 * torch.optim: SGD, momentum and Nesterov (dampening 0), Adam with bias
 * correction; weight decay is L2 added to the gradient. Slots are model
 * tensors "<param>/momentum", "<param>/m", "<param>/v". */
#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ops.h"

/* Slot names per optimizer kind (NULL-terminated). */
static const char *const *optim_slots(psync_opt_kind kind)
{
    static const char *const none[] = {NULL};
    static const char *const mom[] = {"momentum", NULL};
    static const char *const adam[] = {"m", "v", NULL};
    switch (kind) {
    case PSYNC_OPT_MOMENTUM:
    case PSYNC_OPT_NESTEROV:
        return mom;
    case PSYNC_OPT_ADAM:
        return adam;
    default:
        return none;
    }
}

/* Adds the zero-filled slots of one param that are missing. */
static psync_err optim_add_slots(psync_model *m, uint32_t i, const char *const *slots)
{
    const psync_tensor t = m->tensors[i]; /* copy: adding may move the table */
    for (; *slots; slots++) {
        char name[PSYNC_NAME_MAX];
        psync_err err = psync_slot_name(name, t.name, *slots);
        if (!err && !psync_model_find(m, name))
            err = psync_model_add_tensor(m, name, PSYNC_ROLE_SLOT, t.dtype, t.rank, t.shape, NULL,
                                         NULL);
        if (err) return err;
    }
    return PSYNC_OK;
}

/* Adds every missing slot of every f32 param for m's optimizer. Returns
 * PSYNC_EINVAL for an unknown optimizer kind, or the add's error. */
psync_err psync_optim_init_slots(psync_model *m)
{
    psync_err err = eng_optim_check(&m->opt);
    const uint32_t count = m->n_tensors;
    for (uint32_t i = 0; !err && i < count; i++)
        if (m->tensors[i].role == PSYNC_ROLE_PARAM && m->tensors[i].dtype == PSYNC_DTYPE_F32)
            err = optim_add_slots(m, i, optim_slots(m->opt.kind));
    return err;
}

/* Finds one slot of p; PSYNC_ENOTFOUND / PSYNC_ESHAPE. */
static psync_err optim_find_slot(psync_model *m, const eng_param *p, const char *slot, float **out)
{
    char name[PSYNC_NAME_MAX];
    psync_err err = psync_slot_name(name, p->name, slot);
    if (err) return err;
    const psync_tensor *t = psync_model_find(m, name);
    if (!t)
        return psync_fail(PSYNC_ENOTFOUND, "optimizer slot '%s' missing (psync_optim_init_slots)",
                          name);
    if (t->dtype != PSYNC_DTYPE_F32 || psync_tensor_elems(t) != p->size)
        return psync_fail(PSYNC_ESHAPE, "optimizer slot '%s' does not match param '%s'", name,
                          p->name);
    *out = t->data;
    return PSYNC_OK;
}

/* Points p->s1 / p->s2 at its slots for m's optimizer. */
psync_err eng_optim_bind(psync_model *m, eng_param *p)
{
    const char *const *slots = optim_slots(m->opt.kind);
    float **dst[2] = {&p->s1, &p->s2};
    p->s1 = p->s2 = NULL;
    for (int i = 0; slots[i]; i++) {
        psync_err err = optim_find_slot(m, p, slots[i], dst[i]);
        if (err) return err;
    }
    return PSYNC_OK;
}

/* PSYNC_EINVAL unless the kind is known and the hyper-parameters usable. */
psync_err eng_optim_check(const psync_optimizer *o)
{
    if (!psync_opt_name(o->kind))
        return psync_fail(PSYNC_EINVAL, "unknown optimizer kind %d", (int)o->kind);
    if (!isfinite(o->lr) || o->lr < 0 || !isfinite(o->weight_decay) || o->weight_decay < 0)
        return psync_fail(PSYNC_EINVAL, "optimizer lr %g / weight_decay %g invalid", o->lr,
                          o->weight_decay);
    if (o->kind == PSYNC_OPT_ADAM &&
        !(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0))
        return psync_fail(PSYNC_EINVAL, "adam beta1 %g beta2 %g eps %g invalid", o->beta1, o->beta2,
                          o->eps);
    return PSYNC_OK;
}

static void sgd_loop(float *restrict w, const float *restrict g, size_t n, float lr, float wd)
{
    ENG_VLOOP(i, n, { w[i] -= lr * (g[i] + wd * w[i]); });
}

/* buf = mu*buf + g; p -= lr*buf. With a zero buffer the first step gives
 * buf = g, as torch's clone does. */
static void momentum_loop(float *restrict w, float *restrict buf, const float *restrict g, size_t n,
                          const psync_optimizer *o)
{
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mu = (float)o->momentum;
    ENG_VLOOP(i, n, {
        buf[i] = mu * buf[i] + (g[i] + wd * w[i]);
        w[i] -= lr * buf[i];
    });
}

/* Nesterov as torch: buf = mu*buf + g; p -= lr*(g + mu*buf). */
static void nesterov_loop(float *restrict w, float *restrict buf, const float *restrict g, size_t n,
                          const psync_optimizer *o)
{
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mu = (float)o->momentum;
    ENG_VLOOP(i, n, {
        const float gi = g[i] + wd * w[i];
        buf[i] = mu * buf[i] + gi;
        w[i] -= lr * (gi + mu * buf[i]);
    });
}

/* Adam's per-step constants (float, as the element loop uses them). */
typedef struct adam_k {
    float b1, b2, wd, step_size, inv_bc2_sqrt, eps;
} adam_k;

/* One element of the update; the SIMD path performs the same IEEE
 * operations in the same order, so both give identical bits. */
static inline void adam_one(float *w, float *m, float *v, float g0, const adam_k *k)
{
    const float g = g0 + k->wd * *w;
    *m = k->b1 * *m + (1.0f - k->b1) * g;
    *v = k->b2 * *v + (1.0f - k->b2) * g * g;
    *w -= k->step_size * (*m / (sqrtf(*v) * k->inv_bc2_sqrt + k->eps));
}

#ifdef __SSE2__
/* Four lanes at a time (sqrtf's errno path keeps GCC from vectorizing the
 * scalar loop); returns how many elements it did. */
static size_t adam_sse(float *w, float *m, float *v, const float *g, size_t n, const adam_k *k)
{
    const __m128 b1 = _mm_set1_ps(k->b1), c1 = _mm_set1_ps(1.0f - k->b1);
    const __m128 b2 = _mm_set1_ps(k->b2), c2 = _mm_set1_ps(1.0f - k->b2);
    const __m128 wd = _mm_set1_ps(k->wd), st = _mm_set1_ps(k->step_size);
    const __m128 ibc2 = _mm_set1_ps(k->inv_bc2_sqrt), eps = _mm_set1_ps(k->eps);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 wi = _mm_loadu_ps(w + i);
        __m128 gi = _mm_add_ps(_mm_loadu_ps(g + i), _mm_mul_ps(wd, wi));
        __m128 mi = _mm_add_ps(_mm_mul_ps(b1, _mm_loadu_ps(m + i)), _mm_mul_ps(c1, gi));
        __m128 vi =
            _mm_add_ps(_mm_mul_ps(b2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(c2, gi), gi));
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), ibc2), eps);
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        _mm_storeu_ps(w + i, _mm_sub_ps(wi, _mm_mul_ps(st, _mm_div_ps(mi, den))));
    }
    return i;
}
#endif

/* torch.optim.Adam (single-tensor): step_size = lr / (1 - b1^t),
 * denom = sqrt(v) / sqrt(1 - b2^t) + eps, p -= step_size * m / denom
 * (the division by sqrt(1 - b2^t) is a multiply here: one divide less). */
static void optim_adam(const psync_optimizer *o, eng_param *p)
{
    const double t = (double)o->step;
    const adam_k k = {(float)o->beta1,
                      (float)o->beta2,
                      (float)o->weight_decay,
                      (float)(o->lr / (1.0 - pow(o->beta1, t))),
                      (float)(1.0 / sqrt(1.0 - pow(o->beta2, t))),
                      (float)o->eps};
    size_t i = 0;
#ifdef __SSE2__
    i = adam_sse(p->w, p->s1, p->s2, p->g, p->size, &k);
#endif
    for (; i < p->size; i++)
        adam_one(&p->w[i], &p->s1[i], &p->s2[i], p->g[i], &k);
}

/* Applies one step of o to p (o->step already counts this step). */
void eng_optim_apply(const psync_optimizer *o, eng_param *p)
{
    switch (o->kind) {
    case PSYNC_OPT_SGD:
        sgd_loop(p->w, p->g, p->size, (float)o->lr, (float)o->weight_decay);
        break;
    case PSYNC_OPT_MOMENTUM:
        momentum_loop(p->w, p->s1, p->g, p->size, o);
        break;
    case PSYNC_OPT_NESTEROV:
        nesterov_loop(p->w, p->s1, p->g, p->size, o);
        break;
    case PSYNC_OPT_ADAM:
        optim_adam(o, p);
        break;
    }
}
