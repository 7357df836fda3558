/* op_conv.c: conv2d over NCHW samples [C,H,W] with weight [OC,C,KH,KW] and
 * bias [OC] (attrs stride, pad; default 1, 0). Each sample is lowered with
 * im2col into [C*KH*KW, OH*OW] and multiplied by sgemm; backward recomputes
 * the columns (one sample's worth of scratch) and scatters with col2im. */
#include <cblas.h>
#include <string.h>

#include "ops.h"

enum { CONV_STRIDE, CONV_PAD };

/* The sizes of one sample's lowering. */
typedef struct conv_dims {
    size_t c, h, w, kh, kw, oh, ow, oc, stride, pad;
} conv_dims;

static conv_dims conv_get_dims(const eng_node *n)
{
    const eng_value *x = n->in[0], *y = n->out;
    const eng_param *w = n->p[0];
    return (conv_dims){x->shape[0],
                       x->shape[1],
                       x->shape[2],
                       w->shape[2],
                       w->shape[3],
                       y->shape[1],
                       y->shape[2],
                       w->shape[0],
                       (size_t)n->iattr[CONV_STRIDE],
                       (size_t)n->iattr[CONV_PAD]};
}

/* Output extent along one axis, or 0 if the kernel does not fit. */
static uint64_t conv_out_len(uint64_t in, uint64_t k, int64_t stride, int64_t pad)
{
    uint64_t padded = in + 2 * (uint64_t)pad;
    return padded < k ? 0 : (padded - k) / (uint64_t)stride + 1;
}

static psync_err conv_infer(eng_node *n, uint32_t max_batch)
{
    const eng_value *x = n->in[0];
    const eng_param *w = n->p[0], *b = n->p[1];
    psync_err err = eng_need_rank(n, x, 3);
    if (err) return err;
    int64_t s = psync_node_int(n->src, "stride", 1), p = psync_node_int(n->src, "pad", 0);
    if (s < 1 || p < 0 || s > 1 << 16 || p > 1 << 16)
        return psync_fail(PSYNC_EGRAPH, "node '%s' (conv2d): stride %lld / pad %lld invalid",
                          n->src->name, (long long)s, (long long)p);
    if (w->shape[1] != x->shape[0] || b->shape[0] != w->shape[0])
        return eng_shape_fail(n, "weight '%s' [%llu,%llu,..] / bias [%llu] vs %llu channels",
                              w->name, (unsigned long long)w->shape[0],
                              (unsigned long long)w->shape[1], (unsigned long long)b->shape[0],
                              (unsigned long long)x->shape[0]);
    uint64_t dims[3] = {w->shape[0], conv_out_len(x->shape[1], w->shape[2], s, p),
                        conv_out_len(x->shape[2], w->shape[3], s, p)};
    if (dims[1] == 0 || dims[2] == 0)
        return eng_shape_fail(n, "kernel larger than the padded input");
    n->iattr[CONV_STRIDE] = s;
    n->iattr[CONV_PAD] = p;
    eng_value_set_shape(n->out, 3, dims);
    n->scratch_len = 2 * (size_t)(w->size / w->shape[0]) * dims[1] * dims[2]; /* col, dcol */
    return PSYNC_OK;
}

/* The outputs [*lo, *hi) along one axis whose input o*stride - pad + k
 * falls inside [0, in_len); the others read the zero padding. */
static void conv_span(size_t k, size_t in_len, size_t out_len, const conv_dims *d, size_t *lo,
                      size_t *hi)
{
    const size_t s = d->stride, p = d->pad;
    size_t a = k >= p ? 0 : (p - k + s - 1) / s;
    size_t b = in_len + p <= k ? 0 : (in_len + p - k + s - 1) / s;
    *hi = b < out_len ? b : out_len;
    *lo = a < *hi ? a : *hi;
}

/* One col row: dst[j] = src[(j - lo) * stride] for j in [lo, hi), else 0. */
static void conv_gather(float *dst, const float *src, size_t lo, size_t hi, size_t n, size_t s)
{
    memset(dst, 0, lo * sizeof(float));
    if (s == 1)
        memcpy(dst + lo, src, (hi - lo) * sizeof(float));
    else
        for (size_t j = lo; j < hi; j++)
            dst[j] = src[(j - lo) * s];
    memset(dst + hi, 0, (n - hi) * sizeof(float));
}

/* Offset in one sample of input (c, o*stride + k - pad, first*stride + kw
 * - pad) for an output row o and first column inside both spans. */
static size_t conv_at(const conv_dims *d, size_t c, size_t o, size_t k, size_t first, size_t kw)
{
    return (c * d->h + o * d->stride + k - d->pad) * d->w + first * d->stride + kw - d->pad;
}

/* col[(c*KH+ki)*KW+kj][oh*OW+ow] = x[c][oh*s-p+ki][ow*s-p+kj] or 0. */
static void conv_im2col(const float *x, float *col, const conv_dims *d)
{
    for (size_t c = 0; c < d->c; c++)
        for (size_t ki = 0; ki < d->kh; ki++) {
            size_t ilo, ihi, jlo, jhi;
            conv_span(ki, d->h, d->oh, d, &ilo, &ihi);
            for (size_t kj = 0; kj < d->kw; kj++) {
                conv_span(kj, d->w, d->ow, d, &jlo, &jhi);
                for (size_t i = 0; i < d->oh; i++, col += d->ow) {
                    if (i < ilo || i >= ihi || jlo == jhi)
                        memset(col, 0, d->ow * sizeof(float));
                    else
                        conv_gather(col, x + conv_at(d, c, i, ki, jlo, kj), jlo, jhi, d->ow,
                                    d->stride);
                }
            }
        }
}

/* The adjoint of im2col: dx (zeroed here) accumulates every column entry. */
static void conv_col2im(const float *col, float *dx, const conv_dims *d)
{
    memset(dx, 0, d->c * d->h * d->w * sizeof(float));
    for (size_t c = 0; c < d->c; c++)
        for (size_t ki = 0; ki < d->kh; ki++) {
            size_t ilo, ihi, jlo, jhi;
            conv_span(ki, d->h, d->oh, d, &ilo, &ihi);
            for (size_t kj = 0; kj < d->kw; kj++, col += d->oh * d->ow) {
                conv_span(kj, d->w, d->ow, d, &jlo, &jhi);
                for (size_t i = ilo; i < ihi && jlo < jhi; i++) {
                    float *dst = dx + conv_at(d, c, i, ki, jlo, kj);
                    for (size_t j = jlo; j < jhi; j++)
                        dst[(j - jlo) * d->stride] += col[i * d->ow + j];
                }
            }
        }
}

static psync_err conv_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const conv_dims d = conv_get_dims(n);
    const size_t ckk = d.c * d.kh * d.kw, ohw = d.oh * d.ow;
    for (uint32_t b = 0; b < batch; b++) {
        float *y = n->out->data + b * n->out->size;
        conv_im2col(n->in[0]->data + b * n->in[0]->size, n->scratch, &d);
        for (size_t o = 0; o < d.oc; o++)
            for (size_t i = 0; i < ohw; i++)
                y[o * ohw + i] = n->p[1]->w[o];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.oc, (int)ohw, (int)ckk, 1.0f,
                    n->p[0]->w, (int)ckk, n->scratch, (int)ohw, 1.0f, y, (int)ohw);
    }
    return PSYNC_OK;
}

/* Adds one sample's dy plane sums to db. */
static void conv_bias_grad(float *db, const float *dy, size_t oc, size_t ohw)
{
    for (size_t o = 0; o < oc; o++) {
        float sum = 0.0f;
        for (size_t i = 0; i < ohw; i++)
            sum += dy[o * ohw + i];
        db[o] += sum;
    }
}

static void conv_backward(eng_node *n, uint32_t batch)
{
    const conv_dims d = conv_get_dims(n);
    const size_t ckk = d.c * d.kh * d.kw, ohw = d.oh * d.ow;
    float *col = n->scratch, *dcol = n->scratch + ckk * ohw;
    memset(n->p[1]->g, 0, d.oc * sizeof(float));
    for (uint32_t b = 0; b < batch; b++) {
        const float *dy = n->out->grad + b * n->out->size;
        conv_im2col(n->in[0]->data + b * n->in[0]->size, col, &d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d.oc, (int)ckk, (int)ohw, 1.0f,
                    dy, (int)ohw, col, (int)ohw, b ? 1.0f : 0.0f, n->p[0]->g, (int)ckk);
        conv_bias_grad(n->p[1]->g, dy, d.oc, ohw);
        if (!n->gin[0]) continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)ohw, (int)d.oc, 1.0f,
                    n->p[0]->w, (int)ckk, dy, (int)ohw, 0.0f, dcol, (int)ohw);
        conv_col2im(dcol, n->gin[0] + b * n->in[0]->size, &d);
    }
}

const eng_op eng_op_conv2d = {
    .name = "conv2d",
    .n_inputs = 1,
    .label_input = -1,
    .n_params = 2,
    .param_rank = {4, 1},
    .infer = conv_infer,
    .forward = conv_forward,
    .backward = conv_backward,
};
