/* model.c: the in-memory model: tensor table over one 64-byte-aligned payload
 * arena, optimizer, training state and metadata (see model.h). The arena is
 * either owned (posix_memalign, grown by doubling) or borrowed from a
 * decoded blob until the first write. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"

psync_err psync_model_new(psync_model **out)
{
    psync_model *m = calloc(1, sizeof *m);
    if (!m) return psync_fail(PSYNC_ENOMEM, "model");
    psync_graph_init(&m->graph);
    m->opt.kind = PSYNC_OPT_SGD;
    m->opt.lr = 0.01;
    m->payload_owned = true;
    *out = m;
    return PSYNC_OK;
}

void psync_model_destroy(psync_model **pm)
{
    if (!pm || !*pm) return;
    psync_model *m = *pm;
    psync_graph_clear(&m->graph);
    free(m->tensors);
    if (m->payload_owned) free(m->arena);
    free(m->blob);
    free(m);
    *pm = NULL;
}

/* Points every tensor's data at its offset in the current arena. */
static void model_rebind(psync_model *m)
{
    for (uint32_t i = 0; i < m->n_tensors; i++)
        m->tensors[i].data = m->payload ? m->payload + m->tensors[i].offset : NULL;
}

/* Replaces the arena by an owned one of cap bytes, preceded by room bytes
 * of headroom, holding the first payload_len bytes of the old one; frees
 * the old arena if owned. */
static psync_err model_realloc_room(psync_model *m, uint64_t cap, uint64_t room)
{
    void *p = NULL;
    room = psync_align_up(room);
    if (cap > SIZE_MAX - room || posix_memalign(&p, PSYNC_ALIGN, (size_t)(room + cap)))
        return psync_fail(PSYNC_ENOMEM, "payload arena of %llu bytes", (unsigned long long)cap);
    uint8_t *payload = (uint8_t *)p + room;
    if (m->payload_len) memcpy(payload, m->payload, m->payload_len);
    if (m->payload_owned) free(m->arena);
    m->arena = p;
    m->headroom = room;
    m->payload = payload;
    m->payload_cap = cap;
    m->payload_owned = true;
    model_rebind(m);
    return PSYNC_OK;
}

static psync_err model_realloc(psync_model *m, uint64_t cap)
{
    uint64_t room =
        m->payload_owned && m->headroom > PSYNC_MODEL_HEADROOM ? m->headroom : PSYNC_MODEL_HEADROOM;
    return model_realloc_room(m, cap, room);
}

psync_err psync_model_reserve_headroom(psync_model *m, uint64_t room)
{
    if (m->headroom >= room && (m->payload_owned || m->blob)) return PSYNC_OK;
    psync_err err = model_realloc_room(m, m->payload_len, room);
    if (err) return err;
    free(m->blob); /* the payload no longer points into a taken blob */
    m->blob = NULL;
    return PSYNC_OK;
}

psync_err psync_model_own(psync_model *m)
{
    if (m->payload_owned) return PSYNC_OK;
    psync_err err = model_realloc(m, m->payload_len);
    if (err) return err;
    free(m->blob); /* nothing else points into a taken blob */
    m->blob = NULL;
    return PSYNC_OK;
}

/* Copies the scalar parts and the tensor table (not the arena). */
static psync_err model_copy_table(psync_model *dst, const psync_model *src)
{
    psync_err err = psync_graph_copy(&dst->graph, &src->graph);
    if (err) return err;
    if (src->n_tensors) {
        dst->tensors = malloc((size_t)src->n_tensors * sizeof *dst->tensors);
        if (!dst->tensors) return psync_fail(PSYNC_ENOMEM, "tensor table of %u", src->n_tensors);
        memcpy(dst->tensors, src->tensors, (size_t)src->n_tensors * sizeof *dst->tensors);
    }
    dst->n_tensors = dst->cap_tensors = src->n_tensors;
    dst->opt = src->opt;
    dst->state = src->state;
    dst->n_meta = src->n_meta;
    memcpy(dst->meta, src->meta, sizeof dst->meta);
    return PSYNC_OK;
}

psync_err psync_model_clone(const psync_model *src, psync_model **out)
{
    psync_model *m = NULL;
    psync_err err = psync_model_new(&m);
    if (err) return err;
    err = model_copy_table(m, src);
    if (!err) {
        m->payload = src->payload; /* borrowed until copied below */
        m->payload_len = src->payload_len;
        m->payload_owned = false;
        err = model_realloc(m, src->payload_len);
    }
    if (err) {
        if (!m->payload_owned) m->payload = NULL;
        psync_model_destroy(&m);
        return err;
    }
    *out = m;
    return PSYNC_OK;
}

/* Makes room for one more tensor descriptor. */
static psync_err model_grow_table(psync_model *m)
{
    if (m->n_tensors < m->cap_tensors) return PSYNC_OK;
    uint32_t cap = m->cap_tensors ? 2 * m->cap_tensors : 16;
    psync_tensor *t = realloc(m->tensors, (size_t)cap * sizeof *t);
    if (!t) return psync_fail(PSYNC_ENOMEM, "tensor table of %u", cap);
    m->tensors = t;
    m->cap_tensors = cap;
    return PSYNC_OK;
}

/* Makes the arena owned with room for `need` bytes (doubling). */
static psync_err model_reserve(psync_model *m, uint64_t need)
{
    if (m->payload_owned && need <= m->payload_cap) return PSYNC_OK;
    uint64_t cap = m->payload_cap * 2;
    if (cap < need) cap = need;
    if (cap < 4096) cap = 4096;
    return model_realloc(m, cap);
}

static psync_err model_check_new(const psync_model *m, const char *name, psync_role role,
                                 psync_dtype dt, uint32_t rank)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= PSYNC_NAME_MAX)
        return psync_fail(PSYNC_EINVAL, "tensor name must have 1..%d bytes", PSYNC_NAME_MAX - 1);
    if (psync_model_find(m, name))
        return psync_fail(PSYNC_EINVAL, "tensor '%s' already exists", name);
    if (!psync_role_name(role))
        return psync_fail(PSYNC_EINVAL, "tensor '%s': unknown role %d", name, (int)role);
    if (!psync_dtype_size(dt))
        return psync_fail(PSYNC_EDTYPE, "tensor '%s': unknown dtype %d", name, (int)dt);
    if (rank > PSYNC_MAX_RANK)
        return psync_fail(PSYNC_ESHAPE, "tensor '%s': rank %u exceeds %d", name, rank,
                          PSYNC_MAX_RANK);
    return PSYNC_OK;
}

psync_err psync_model_add_tensor(psync_model *m, const char *name, psync_role role, psync_dtype dt,
                                 uint32_t rank, const uint64_t *shape, const void *data,
                                 psync_tensor **out)
{
    uint64_t nbytes = 0;
    psync_err err = model_check_new(m, name, role, dt, rank);
    if (!err) err = psync_shape_count(rank, shape, dt, NULL, &nbytes);
    if (!err) err = model_grow_table(m);
    uint64_t offset = m->payload_len, end = offset + psync_align_up(nbytes);
    if (!err) err = model_reserve(m, end);
    if (err) return err;
    psync_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->role = role;
    t->dtype = dt;
    t->rank = rank;
    if (rank) memcpy(t->shape, shape, rank * sizeof *shape);
    t->offset = offset;
    t->nbytes = nbytes;
    t->data = m->payload + offset;
    if (data && nbytes) memcpy(t->data, data, nbytes);
    memset(m->payload + offset + (data ? nbytes : 0), 0, end - offset - (data ? nbytes : 0));
    m->payload_len = end;
    if (out) *out = t;
    return PSYNC_OK;
}

psync_tensor *psync_model_find(const psync_model *m, const char *name)
{
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

psync_err psync_model_get(const psync_model *m, const char *name, const psync_tensor **out)
{
    const psync_tensor *t = psync_model_find(m, name);
    if (!t) return psync_fail(PSYNC_ENOTFOUND, "no tensor named '%s'", name);
    *out = t;
    return PSYNC_OK;
}

psync_err psync_model_set(psync_model *m, const char *name, psync_dtype dt, uint32_t rank,
                          const uint64_t *shape, const void *data)
{
    psync_tensor *t = psync_model_find(m, name);
    if (!t) return psync_fail(PSYNC_ENOTFOUND, "no tensor named '%s'", name);
    if (dt != t->dtype)
        return psync_fail(PSYNC_EDTYPE, "tensor '%s': dtype %s does not match %s", name,
                          psync_dtype_name(dt) ? psync_dtype_name(dt) : "?",
                          psync_dtype_name(t->dtype));
    if (rank != t->rank || (rank && memcmp(shape, t->shape, rank * sizeof *shape))) {
        char a[160], b[160];
        return psync_fail(PSYNC_ESHAPE, "tensor '%s': shape %s does not match %s", name,
                          psync_shape_str(a, sizeof a, rank > PSYNC_MAX_RANK ? 0 : rank, shape),
                          psync_shape_str(b, sizeof b, t->rank, t->shape));
    }
    psync_err err = psync_model_own(m);
    if (err) return err;
    t = psync_model_find(m, name);
    if (t->nbytes) memcpy(t->data, data, t->nbytes);
    return PSYNC_OK;
}

psync_err psync_model_set_meta(psync_model *m, const char *key, const char *value)
{
    if (!key || !key[0]) return psync_fail(PSYNC_EINVAL, "metadata key must not be empty");
    psync_meta *e = NULL;
    for (uint32_t i = 0; i < m->n_meta && !e; i++)
        if (!strncmp(m->meta[i].key, key, PSYNC_META_KEY_MAX - 1)) e = &m->meta[i];
    if (!e && m->n_meta >= PSYNC_META_MAX)
        return psync_fail(PSYNC_ELIMIT, "metadata already has %d entries", PSYNC_META_MAX);
    if (!e) e = &m->meta[m->n_meta++];
    snprintf(e->key, sizeof e->key, "%s", key);
    snprintf(e->value, sizeof e->value, "%s", value ? value : "");
    return PSYNC_OK;
}

const char *psync_model_get_meta(const psync_model *m, const char *key)
{
    for (uint32_t i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta[i].key, key)) return m->meta[i].value;
    return NULL;
}

psync_err psync_slot_name(char *out, const char *param, const char *slot)
{
    int n = snprintf(out, PSYNC_NAME_MAX, "%s/%s", param, slot);
    if (n < 0 || n >= PSYNC_NAME_MAX)
        return psync_fail(PSYNC_EINVAL, "slot name '%s/%s' exceeds %d bytes", param, slot,
                          PSYNC_NAME_MAX - 1);
    return PSYNC_OK;
}

uint64_t psync_model_layout_hash(const psync_model *m)
{
    uint64_t h = psync_fnv1a64_u64(PSYNC_FNV_OFFSET, psync_graph_hash(&m->graph));
    h = psync_fnv1a64_u64(h, m->n_tensors);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const psync_tensor *t = &m->tensors[i];
        uint8_t codes[3] = {(uint8_t)t->role, (uint8_t)t->dtype, (uint8_t)t->rank};
        h = psync_fnv1a64(h, t->name, strlen(t->name) + 1);
        h = psync_fnv1a64(h, codes, sizeof codes);
        for (uint32_t d = 0; d < t->rank; d++)
            h = psync_fnv1a64_u64(h, t->shape[d]);
        h = psync_fnv1a64_u64(h, t->offset);
    }
    return h;
}

/* Index of the first non-finite element of t, or -1. */
static int64_t model_first_nonfinite(const psync_tensor *t)
{
    uint64_t n = psync_tensor_elems(t);
    if (t->dtype == PSYNC_DTYPE_F32) {
        const float *f = t->data;
        for (uint64_t i = 0; i < n; i++)
            if (!isfinite(f[i])) return (int64_t)i;
    } else if (t->dtype == PSYNC_DTYPE_F64) {
        const double *d = t->data;
        for (uint64_t i = 0; i < n; i++)
            if (!isfinite(d[i])) return (int64_t)i;
    }
    return -1;
}

psync_err psync_model_check_finite(const psync_model *m, unsigned role_mask)
{
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const psync_tensor *t = &m->tensors[i];
        if (!(role_mask & (1u << t->role))) continue;
        int64_t bad = model_first_nonfinite(t);
        if (bad >= 0)
            return psync_fail(PSYNC_ENONFINITE, "tensor '%s' (%s): element %lld is not finite",
                              t->name, psync_role_name(t->role), (long long)bad);
    }
    return PSYNC_OK;
}

static const char *const model_opt_names[] = {NULL, "sgd", "momentum", "nesterov", "adam"};
#define MODEL_NOPTS (sizeof model_opt_names / sizeof model_opt_names[0])

const char *psync_opt_name(psync_opt_kind k)
{
    return (unsigned)k < MODEL_NOPTS ? model_opt_names[k] : NULL;
}

psync_err psync_opt_parse(const char *name, psync_opt_kind *out)
{
    for (unsigned i = 1; i < MODEL_NOPTS; i++) {
        if (!strcmp(name, model_opt_names[i])) {
            *out = (psync_opt_kind)i;
            return PSYNC_OK;
        }
    }
    return psync_fail(PSYNC_EINVAL, "unknown optimizer '%s' (sgd, momentum, nesterov or adam)",
                      name);
}
