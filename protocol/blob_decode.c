/* blob_decode.c: decoding an untrusted blob into a model (see blob.h and
 * docs/blob-format.md): a bounded walk of the msgpack header, then checks
 * of the tensor layout, the graph and the layout hash. O(header): the
 * payload is referenced (or copied once), never inspected. */
#include "blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_codec.h"
#include "mpread.h"
#include "nameset.h"

typedef struct blob_ctx {
    const psync_limits *lim;
    psync_model *m;
    psync_tensor *t;        /* tensor being read */
    const uint8_t *payload; /* inside the input */
    uint64_t payload_len;
    uint64_t layout_hash;
    bool have_payload;
} blob_ctx;

/* ---- tensors ---- */

static psync_err blob_t_name(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    psync_err err = psync_mp_read_str_copy(mp, x->t->name, PSYNC_NAME_MAX);
    if (!err && !x->t->name[0]) err = psync_fail(PSYNC_EFORMAT, "empty tensor name");
    return psync_mp_wrap(err, path);
}

static psync_err blob_t_role(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    char name[16];
    psync_err err = psync_mp_read_str_copy(mp, name, sizeof name);
    if (!err) err = psync_role_parse(name, &x->t->role);
    return psync_mp_wrap(err, path);
}

static psync_err blob_t_dtype(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    char name[16];
    psync_err err = psync_mp_read_str_copy(mp, name, sizeof name);
    if (err == PSYNC_ELIMIT)
        err = psync_fail(PSYNC_EDTYPE, "unknown dtype (f32, f64, i32, i64 or u8)");
    if (!err) err = psync_dtype_parse(name, &x->t->dtype);
    return psync_mp_wrap(err, path);
}

static psync_err blob_t_shape(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    return psync_codec_read_shape(mp, x->lim, path, &x->t->rank, x->t->shape);
}

static psync_err blob_t_offset(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    return psync_mp_wrap(psync_mp_read_uint(mp, &x->t->offset), path);
}

static psync_err blob_t_nbytes(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    return psync_mp_wrap(psync_mp_read_uint(mp, &x->t->nbytes), path);
}

static const psync_mp_field blob_tensor_fields[] = {
    {"name", blob_t_name, false},     {"role", blob_t_role, false},
    {"dtype", blob_t_dtype, false},   {"shape", blob_t_shape, false},
    {"offset", blob_t_offset, false}, {"nbytes", blob_t_nbytes, false},
};

/* Size and placement of tensor i: nbytes matches the shape, the offset is
 * 64-aligned and starts exactly at the previous tensor's aligned end. */
static psync_err blob_check_tensor(const psync_model *m, uint32_t i, const char *path)
{
    const psync_tensor *t = &m->tensors[i];
    uint64_t nbytes,
        expect = i ? psync_align_up(m->tensors[i - 1].offset + m->tensors[i - 1].nbytes) : 0;
    psync_err err = psync_shape_count(t->rank, t->shape, t->dtype, NULL, &nbytes);
    if (err) return psync_mp_wrap(err, path);
    if (nbytes != t->nbytes)
        return psync_fail(PSYNC_ESHAPE, "%s.nbytes: %llu but shape and dtype give %llu", path,
                          (unsigned long long)t->nbytes, (unsigned long long)nbytes);
    if (t->offset % PSYNC_ALIGN)
        return psync_fail(PSYNC_EFORMAT, "%s.offset: %llu is not a multiple of %d", path,
                          (unsigned long long)t->offset, PSYNC_ALIGN);
    if (t->offset != expect)
        return psync_fail(PSYNC_EFORMAT,
                          "%s.offset: %llu but the previous tensor ends at %llu "
                          "(tensors must be packed in table order, no overlap or gap)",
                          path, (unsigned long long)t->offset, (unsigned long long)expect);
    return PSYNC_OK;
}

static psync_err blob_tensors(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    uint32_t n;
    psync_err err = psync_mp_read_array(mp, &n, x->lim->max_tensors);
    if (err) return psync_mp_wrap(err, path);
    psync_model *m = x->m;
    for (uint32_t i = 0; i < n; i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "%s[%u]", path, i);
        if (m->n_tensors == m->cap_tensors) { /* grows as entries are read */
            uint32_t cap = m->cap_tensors ? 2 * m->cap_tensors : 8;
            psync_tensor *t = realloc(m->tensors, (size_t)cap * sizeof *t);
            if (!t) return psync_fail(PSYNC_ENOMEM, "%s: tensor table of %u", sub, cap);
            m->tensors = t;
            m->cap_tensors = cap;
        }
        x->t = &m->tensors[i];
        memset(x->t, 0, sizeof *x->t);
        err = psync_mp_read_fields(mp, 32, blob_tensor_fields, 6, x, sub);
        if (!err) err = blob_check_tensor(m, i, sub);
        if (err) return err;
        m->n_tensors = i + 1;
    }
    psync_mp_end(mp);
    return PSYNC_OK;
}

/* ---- optimizer, state, meta ---- */

#define BLOB_DOUBLE(fn, field)                                                                     \
    static psync_err fn(psync_mp *mp, void *c, const char *path)                                   \
    {                                                                                              \
        return psync_mp_wrap(psync_mp_read_double(mp, &((blob_ctx *)c)->m->field), path);          \
    }
#define BLOB_UINT(fn, field)                                                                       \
    static psync_err fn(psync_mp *mp, void *c, const char *path)                                   \
    {                                                                                              \
        return psync_mp_wrap(psync_mp_read_uint(mp, &((blob_ctx *)c)->m->field), path);            \
    }

BLOB_DOUBLE(blob_o_lr, opt.lr)
BLOB_DOUBLE(blob_o_momentum, opt.momentum)
BLOB_DOUBLE(blob_o_beta1, opt.beta1)
BLOB_DOUBLE(blob_o_beta2, opt.beta2)
BLOB_DOUBLE(blob_o_eps, opt.eps)
BLOB_DOUBLE(blob_o_wd, opt.weight_decay)
BLOB_UINT(blob_o_step, opt.step)
BLOB_UINT(blob_s_global_step, state.global_step)
BLOB_UINT(blob_s_samples, state.samples_seen)
BLOB_UINT(blob_s_epoch, state.epoch)
BLOB_UINT(blob_s_cursor, state.cursor)
BLOB_UINT(blob_s_merge, state.merge_version)

static psync_err blob_o_kind(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    char name[16];
    psync_err err = psync_mp_read_str_copy(mp, name, sizeof name);
    if (!err && psync_opt_parse(name, &x->m->opt.kind))
        err = psync_fail(PSYNC_EFORMAT,
                         "unknown optimizer '%s' (sgd, momentum, nesterov, "
                         "adam)",
                         name);
    return psync_mp_wrap(err, path);
}

static const psync_mp_field blob_opt_fields[] = {
    {"kind", blob_o_kind, false},         {"lr", blob_o_lr, false},
    {"momentum", blob_o_momentum, false}, {"beta1", blob_o_beta1, false},
    {"beta2", blob_o_beta2, false},       {"eps", blob_o_eps, false},
    {"weight_decay", blob_o_wd, false},   {"step", blob_o_step, false},
};

static psync_err blob_optimizer(psync_mp *mp, void *c, const char *path)
{
    return psync_mp_read_fields(mp, 64, blob_opt_fields, 8, c, path);
}

static psync_err blob_s_rng(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    uint32_t n;
    psync_err err = psync_mp_read_array(mp, &n, 4);
    if (!err && n != 4) err = psync_fail(PSYNC_EFORMAT, "%u words but the rng state has 4", n);
    for (uint32_t i = 0; i < n && !err; i++)
        err = psync_mp_read_uint(mp, &x->m->state.rng[i]);
    if (!err) psync_mp_end(mp);
    return psync_mp_wrap(err, path);
}

static psync_err blob_s_batch(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    uint64_t v;
    psync_err err = psync_mp_read_uint(mp, &v);
    if (!err && v > UINT32_MAX)
        err = psync_fail(PSYNC_ELIMIT, "%llu exceeds %u", (unsigned long long)v, UINT32_MAX);
    if (!err) x->m->state.batch_size = (uint32_t)v;
    return psync_mp_wrap(err, path);
}

static const psync_mp_field blob_state_fields[] = {
    {"global_step", blob_s_global_step, false},
    {"samples_seen", blob_s_samples, false},
    {"epoch", blob_s_epoch, false},
    {"cursor", blob_s_cursor, false},
    {"merge_version", blob_s_merge, false},
    {"rng", blob_s_rng, false},
    {"batch_size", blob_s_batch, false},
};

static psync_err blob_state(psync_mp *mp, void *c, const char *path)
{
    return psync_mp_read_fields(mp, 64, blob_state_fields, 7, c, path);
}

static psync_err blob_meta(psync_mp *mp, void *c, const char *path)
{
    psync_model *m = ((blob_ctx *)c)->m;
    uint32_t n;
    psync_err err = psync_mp_read_map(mp, &n, PSYNC_META_MAX);
    for (uint32_t i = 0; i < n && !err; i++) {
        psync_meta *e = &m->meta[i];
        err = psync_mp_read_key(mp, e->key, sizeof e->key);
        if (!err && (!e->key[0] || psync_model_get_meta(m, e->key)))
            err = psync_fail(PSYNC_EFORMAT, "empty or repeated key '%s'", e->key);
        if (!err) err = psync_mp_read_str_copy(mp, e->value, sizeof e->value);
        if (!err) m->n_meta = i + 1;
    }
    if (!err) psync_mp_end(mp);
    return psync_mp_wrap(err, path);
}

/* ---- top level ---- */

static psync_err blob_graph(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    return psync_graph_unpack(mp, x->lim, &x->m->graph);
}

static psync_err blob_layout_hash(psync_mp *mp, void *c, const char *path)
{
    return psync_mp_wrap(psync_mp_read_uint(mp, &((blob_ctx *)c)->layout_hash), path);
}

static psync_err blob_pad(psync_mp *mp, void *c, const char *path)
{
    const uint8_t *p;
    uint32_t n;
    return psync_mp_wrap(psync_mp_read_bin(mp, &p, &n), path);
}

static psync_err blob_payload(psync_mp *mp, void *c, const char *path)
{
    blob_ctx *x = c;
    uint32_t n;
    psync_err err = psync_mp_read_bin(mp, &x->payload, &n);
    x->payload_len = n;
    x->have_payload = !err;
    return psync_mp_wrap(err, path);
}

static const psync_mp_field blob_fields[] = {
    {"graph", blob_graph, false},
    {"tensors", blob_tensors, false},
    {"optimizer", blob_optimizer, false},
    {"state", blob_state, false},
    {"meta", blob_meta, false},
    {"layout_hash", blob_layout_hash, false},
    {"pad", blob_pad, true},
    {"payload", blob_payload, false},
};

/* The first two entries: "format" = PSYNC_BLOB_FORMAT, "version" = 1. */
static psync_err blob_read_preamble(psync_mp *mp)
{
    char key[16], format[32];
    uint64_t version;
    psync_err err = psync_mp_read_key(mp, key, sizeof key);
    if (err || strcmp(key, "format"))
        return psync_fail(PSYNC_EFORMAT, "first key must be \"format\": not a psync model blob");
    err = psync_mp_read_str_copy(mp, format, sizeof format);
    if (err || strcmp(format, PSYNC_BLOB_FORMAT))
        return psync_fail(PSYNC_EFORMAT, "format: not \"%s\": not a psync model blob",
                          PSYNC_BLOB_FORMAT);
    err = psync_mp_read_key(mp, key, sizeof key);
    if (err || strcmp(key, "version"))
        return psync_fail(PSYNC_EFORMAT, "second key must be \"version\"");
    err = psync_mp_read_uint(mp, &version);
    if (err) return psync_mp_wrap(err, "version");
    if (version != PSYNC_BLOB_VERSION)
        return psync_fail(PSYNC_EVERSION,
                          "version: blob has format version %llu but this psync "
                          "reads version %d; upgrade psync or re-export the model",
                          (unsigned long long)version, PSYNC_BLOB_VERSION);
    return PSYNC_OK;
}

static psync_err blob_parse(psync_mp *mp, blob_ctx *x)
{
    uint32_t n;
    psync_err err = psync_mp_read_map(mp, &n, 64);
    if (err) return psync_mp_wrap(err, "blob");
    if (n < 2)
        return psync_fail(PSYNC_EFORMAT, "blob: map of %u entries is not a psync model blob", n);
    err = blob_read_preamble(mp);
    if (!err) err = psync_mp_read_fields_body(mp, n - 2, blob_fields, 8, x, "");
    if (!err && mp->pos != mp->len)
        err =
            psync_fail(PSYNC_EFORMAT, "blob: %zu trailing bytes after the map", mp->len - mp->pos);
    if (!err && mp->len - x->payload_len > x->lim->max_header_bytes)
        err = psync_fail(PSYNC_ELIMIT, "blob: header of %llu bytes exceeds max_header_bytes %llu",
                         (unsigned long long)(mp->len - x->payload_len),
                         (unsigned long long)x->lim->max_header_bytes);
    return err;
}

/* Tensor names unique, every tensor inside the payload, the payload exactly
 * as long as the packed tensors, and node params naming tensors. */
static psync_err blob_check_tables(const psync_model *m, uint64_t payload_len)
{
    psync_nameset names;
    psync_err err = psync_nameset_init(&names, m->n_tensors);
    for (uint32_t i = 0; i < m->n_tensors && !err; i++)
        if (!psync_nameset_add(&names, m->tensors[i].name))
            err = psync_fail(PSYNC_EFORMAT, "tensors[%u].name: '%s' appears twice", i,
                             m->tensors[i].name);
    for (uint32_t i = 0; i < m->graph.n_nodes && !err; i++) {
        const psync_node *nd = &m->graph.nodes[i];
        for (uint32_t k = 0; k < nd->n_params && !err; k++)
            if (!psync_nameset_has(&names, nd->params[k]))
                err = psync_fail(PSYNC_EGRAPH,
                                 "graph.nodes[%u].params[%u]: node '%s' uses "
                                 "tensor '%s' which is not in the tensor table",
                                 i, k, nd->name, nd->params[k]);
    }
    if (!err) {
        const psync_tensor *last = m->n_tensors ? &m->tensors[m->n_tensors - 1] : NULL;
        uint64_t end = last ? psync_align_up(last->offset + last->nbytes) : 0;
        if (end != payload_len)
            err = psync_fail(PSYNC_EFORMAT, "payload: %llu bytes but the tensor table needs %llu",
                             (unsigned long long)payload_len, (unsigned long long)end);
    }
    psync_nameset_free(&names);
    return err;
}

static psync_err blob_validate(psync_model *m, const blob_ctx *x)
{
    psync_err err = psync_graph_validate(&m->graph);
    if (err) return psync_mp_wrap(err, "graph");
    err = blob_check_tables(m, x->payload_len);
    if (err) return err;
    uint64_t h = psync_model_layout_hash(m);
    if (h != x->layout_hash)
        return psync_fail(PSYNC_EMISMATCH,
                          "layout_hash: blob says %016llx but its graph and "
                          "tensor table hash to %016llx (corrupt or hand-edited blob)",
                          (unsigned long long)x->layout_hash, (unsigned long long)h);
    return PSYNC_OK;
}

/* Points the model at the payload, copying it if asked or misaligned. */
static psync_err blob_attach(psync_model *m, const blob_ctx *x, unsigned flags)
{
    m->payload = (uint8_t *)x->payload;
    m->payload_len = m->payload_cap = x->payload_len;
    m->payload_owned = false;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        m->tensors[i].data = m->payload + m->tensors[i].offset;
    if ((flags & PSYNC_DECODE_COPY) || ((uintptr_t)x->payload % 8) != 0) return psync_model_own(m);
    return PSYNC_OK;
}

psync_err psync_blob_decode(void *buf, size_t len, const psync_limits *lim, unsigned flags,
                            psync_model **out)
{
    lim = lim ? lim : &psync_default_limits;
    if (len > lim->max_blob_bytes)
        return psync_fail(PSYNC_ELIMIT, "blob of %zu bytes exceeds max_blob_bytes %llu", len,
                          (unsigned long long)lim->max_blob_bytes);
    psync_model *m = NULL;
    psync_err err = psync_model_new(&m);
    if (err) return err;
    blob_ctx x = {.lim = lim, .m = m};
    psync_mp mp;
    psync_mp_init(&mp, buf, len, lim->max_depth);
    err = blob_parse(&mp, &x);
    if (!err) err = blob_validate(m, &x);
    if (!err) err = blob_attach(m, &x, flags);
    if (err) {
        if (!m->payload_owned) m->payload = NULL;
        psync_model_destroy(&m);
        return err;
    }
    if ((flags & PSYNC_DECODE_TAKE) && m->payload_owned)
        free(buf);
    else if (flags & PSYNC_DECODE_TAKE) {
        m->blob = buf; /* its header bytes become headroom for a re-freeze */
        m->headroom = (uint64_t)(m->payload - (uint8_t *)buf);
    }
    *out = m;
    return PSYNC_OK;
}
