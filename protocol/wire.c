/* wire.c: the header codec generated from messages.def (tables, encode,
 * bounded decode), wire error names, and the merge ranges a MERGED payload
 * defines. Socket I/O is in wire_io.c. */
#include "wire.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "mpread.h"
#include "mpwrite.h"

#define WIRE_KEY_MAX 32

static const psync_wire_msg_info wire_msgs[PSYNC_MSG_COUNT_] = {
#define PSYNC_WIRE_MSG(ID, nm, ch, dr, pl, flds, dc)                                               \
    [PSYNC_MSG_##ID] = {.name = nm,                                                                \
                        .channel = PSYNC_CH_##ch,                                                  \
                        .dir = PSYNC_DIR_##dr,                                                     \
                        .payload = PSYNC_PL_##pl,                                                  \
                        .fields = (flds),                                                          \
                        .doc = dc},
#include "messages.def"
#undef PSYNC_WIRE_MSG
};

static const psync_wire_field_info wire_fields[PSYNC_WFI_COUNT_] = {
#define PSYNC_WIRE_FIELD(id, k, l, h, dc)                                                          \
    [PSYNC_WFI_##                                                                                  \
        id] = {.key = #id, .kind = PSYNC_WK_##k, .lo = (double)(l), .hi = (double)(h), .doc = dc},
#include "messages.def"
#undef PSYNC_WIRE_FIELD
};

const psync_wire_msg_info *psync_wire_msg(psync_msg_type t)
{
    if (t <= PSYNC_MSG_NONE_ || t >= PSYNC_MSG_COUNT_) return NULL;
    return &wire_msgs[t];
}

const psync_wire_field_info *psync_wire_field(unsigned bit)
{
    return bit < PSYNC_WFI_COUNT_ ? &wire_fields[bit] : NULL;
}

const char *psync_wire_type_name(psync_msg_type t)
{
    const psync_wire_msg_info *mi = psync_wire_msg(t);
    return mi ? mi->name : "?";
}

void psync_wire_init(psync_wire_hdr *h, psync_msg_type t, uint64_t inc)
{
    memset(h, 0, sizeof *h);
    h->v = PSYNC_PROTO_VERSION;
    h->t = t;
    h->inc = inc;
}

/* Address of field `bit` inside h (generated offsets). */
static void *wire_member(const psync_wire_hdr *h, unsigned bit)
{
    static const size_t offs[PSYNC_WFI_COUNT_] = {
#define PSYNC_WIRE_FIELD(id, k, l, hi, dc) [PSYNC_WFI_##id] = offsetof(psync_wire_hdr, id),
#include "messages.def"
#undef PSYNC_WIRE_FIELD
    };
    return (char *)h + offs[bit];
}

/* Bounds check of one field value (numbers and string lengths). */
static psync_err wire_check(const psync_wire_field_info *f, const void *p)
{
    double x = 0;
    switch (f->kind) {
    case PSYNC_WK_U64: {
        uint64_t u = *(const uint64_t *)p;
        if ((double)u < f->lo || (double)u > f->hi)
            return psync_fail(PSYNC_ELIMIT, "%s: %llu outside [%.0f, %.0f]", f->key,
                              (unsigned long long)u, f->lo, f->hi);
        return PSYNC_OK;
    }
    case PSYNC_WK_I64:
        x = (double)*(const int64_t *)p;
        break;
    case PSYNC_WK_F64:
        x = *(const double *)p;
        if (!isfinite(x)) return psync_fail(PSYNC_ELIMIT, "%s: not a finite number", f->key);
        break;
    case PSYNC_WK_STR:
        x = (double)strnlen(p, (size_t)f->hi + 1);
        break;
    case PSYNC_WK_BOOL:
        return PSYNC_OK;
    }
    if (x < f->lo && f->kind != PSYNC_WK_STR)
        return psync_fail(PSYNC_ELIMIT, "%s: %g below %g", f->key, x, f->lo);
    if (x > f->hi) return psync_fail(PSYNC_ELIMIT, "%s: %g above %g", f->key, x, f->hi);
    return PSYNC_OK;
}

static void wire_pack_field(msgpack_packer *pk, const psync_wire_field_info *f, const void *p)
{
    psync_mp_pack_cstr(pk, f->key);
    switch (f->kind) {
    case PSYNC_WK_U64:
        msgpack_pack_uint64(pk, *(const uint64_t *)p);
        break;
    case PSYNC_WK_I64:
        msgpack_pack_int64(pk, *(const int64_t *)p);
        break;
    case PSYNC_WK_F64:
        msgpack_pack_double(pk, *(const double *)p);
        break;
    case PSYNC_WK_STR:
        psync_mp_pack_cstr(pk, p);
        break;
    case PSYNC_WK_BOOL:
        if (*(const bool *)p)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    }
}

psync_err psync_wire_encode(const psync_wire_hdr *h, void *buf, size_t cap, size_t *len)
{
    const psync_wire_msg_info *mi = psync_wire_msg(h->t);
    if (!mi) return psync_fail(PSYNC_EINVAL, "encode: unknown message type %d", (int)h->t);
    for (unsigned b = 0; b < PSYNC_WFI_COUNT_; b++) {
        if ((mi->fields >> b) & 1) {
            psync_err e = wire_check(&wire_fields[b], wire_member(h, b));
            if (e) return psync_fail(PSYNC_EINVAL, "encode %s: %s", mi->name, psync_errdetail());
        }
    }
    msgpack_packer pk;
    psync_mpbuf mb;
    psync_mpbuf_packer(&pk, &mb, buf, cap);
    msgpack_pack_map(&pk, 3 + (size_t)__builtin_popcountll(mi->fields));
    psync_mp_pack_cstr(&pk, "v");
    msgpack_pack_uint64(&pk, h->v);
    psync_mp_pack_cstr(&pk, "t");
    psync_mp_pack_cstr(&pk, mi->name);
    psync_mp_pack_cstr(&pk, "inc");
    msgpack_pack_uint64(&pk, h->inc);
    for (unsigned b = 0; b < PSYNC_WFI_COUNT_; b++)
        if ((mi->fields >> b) & 1) wire_pack_field(&pk, &wire_fields[b], wire_member(h, b));
    if (mb.overflow)
        return psync_fail(PSYNC_ELIMIT, "encode %s: %zu bytes do not fit in %zu", mi->name, mb.len,
                          cap);
    *len = mb.len;
    return PSYNC_OK;
}

/* One header entry: its key and where its value starts. */
typedef struct wire_entry {
    char key[WIRE_KEY_MAX];
    size_t pos;
} wire_entry;

typedef struct wire_map {
    psync_mp mp;
    uint32_t n;
    wire_entry e[PSYNC_WIRE_MAX_KEYS];
} wire_map;

/* Reads the map's keys and value positions; values are skipped for now. */
static psync_err wire_scan(wire_map *wm, const void *buf, size_t len)
{
    psync_err e;
    if (len > PSYNC_WIRE_MAX_HEADER)
        return psync_fail(PSYNC_ELIMIT, "header of %zu bytes exceeds %d", len,
                          PSYNC_WIRE_MAX_HEADER);
    psync_mp_init(&wm->mp, buf, len, 4);
    if ((e = psync_mp_read_map(&wm->mp, &wm->n, PSYNC_WIRE_MAX_KEYS)))
        return psync_mp_wrap(e, "header");
    for (uint32_t i = 0; i < wm->n; i++) {
        if ((e = psync_mp_read_key(&wm->mp, wm->e[i].key, WIRE_KEY_MAX)))
            return psync_mp_wrap(e, "header key");
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(wm->e[j].key, wm->e[i].key))
                return psync_fail(PSYNC_EFORMAT, "header: duplicate key '%s'", wm->e[i].key);
        wm->e[i].pos = wm->mp.pos;
        if ((e = psync_mp_skip(&wm->mp))) return psync_mp_wrap(e, wm->e[i].key);
    }
    psync_mp_end(&wm->mp);
    if (psync_mp_remaining(&wm->mp))
        return psync_fail(PSYNC_EFORMAT, "header: %zu trailing bytes", psync_mp_remaining(&wm->mp));
    return PSYNC_OK;
}

/* Positions the cursor on key's value; PSYNC_EFORMAT if absent. */
static psync_err wire_seek(wire_map *wm, const char *key, const char *type)
{
    for (uint32_t i = 0; i < wm->n; i++) {
        if (!strcmp(wm->e[i].key, key)) {
            wm->mp.pos = wm->e[i].pos;
            return PSYNC_OK;
        }
    }
    return psync_fail(PSYNC_EFORMAT, "%s: missing field '%s'", type, key);
}

/* An int64 field; non-negative values are read as uint (any encoding). */
static psync_err wire_read_i64(psync_mp *mp, int64_t *out)
{
    psync_mp_kind k;
    uint64_t u;
    psync_err e = psync_mp_peek(mp, &k);
    if (e || k != PSYNC_MP_UINT) return e ? e : psync_mp_read_int(mp, out);
    if ((e = psync_mp_read_uint(mp, &u))) return e;
    if (u > INT64_MAX)
        return psync_fail(PSYNC_ELIMIT, "integer %llu does not fit int64", (unsigned long long)u);
    *out = (int64_t)u;
    return PSYNC_OK;
}

static psync_err wire_read_field(wire_map *wm, const psync_wire_field_info *f, void *p)
{
    switch (f->kind) {
    case PSYNC_WK_U64:
        return psync_mp_read_uint(&wm->mp, p);
    case PSYNC_WK_I64:
        return wire_read_i64(&wm->mp, p);
    case PSYNC_WK_F64:
        return psync_mp_read_double(&wm->mp, p);
    case PSYNC_WK_BOOL:
        return psync_mp_read_bool(&wm->mp, p);
    case PSYNC_WK_STR:
        return psync_mp_read_str_copy(&wm->mp, p, (size_t)f->hi + 1);
    }
    return PSYNC_EINVAL;
}

/* Reads "v", "t" and "inc" into out. */
static psync_err wire_decode_envelope(wire_map *wm, psync_wire_hdr *out)
{
    psync_err e;
    char tname[WIRE_KEY_MAX];
    if ((e = wire_seek(wm, "v", "header")) || (e = psync_mp_read_uint(&wm->mp, &out->v)))
        return psync_mp_wrap(e, "v");
    if (out->v != PSYNC_PROTO_VERSION)
        return psync_fail(PSYNC_EVERSION, "protocol version %llu, this build speaks %d",
                          (unsigned long long)out->v, PSYNC_PROTO_VERSION);
    if ((e = wire_seek(wm, "t", "header")) ||
        (e = psync_mp_read_str_copy(&wm->mp, tname, sizeof tname)))
        return psync_mp_wrap(e, "t");
    for (int t = 1; t < PSYNC_MSG_COUNT_; t++)
        if (!strcmp(wire_msgs[t].name, tname)) out->t = (psync_msg_type)t;
    if (!out->t) return psync_fail(PSYNC_EPROTO, "unknown message type '%s'", tname);
    if ((e = wire_seek(wm, "inc", tname)) || (e = psync_mp_read_uint(&wm->mp, &out->inc)))
        return psync_mp_wrap(e, "inc");
    return PSYNC_OK;
}

psync_err psync_wire_decode(const void *buf, size_t len, psync_wire_hdr *out)
{
    wire_map wm;
    psync_err e;
    memset(out, 0, sizeof *out);
    if ((e = wire_scan(&wm, buf, len)) || (e = wire_decode_envelope(&wm, out))) return e;
    const psync_wire_msg_info *mi = &wire_msgs[out->t];
    for (unsigned b = 0; b < PSYNC_WFI_COUNT_; b++) {
        if (!((mi->fields >> b) & 1)) continue;
        const psync_wire_field_info *f = &wire_fields[b];
        void *p = wire_member(out, b);
        if ((e = wire_seek(&wm, f->key, mi->name))) return e;
        if ((e = wire_read_field(&wm, f, p)) || (e = wire_check(f, p)))
            return psync_mp_wrap(e, f->key);
    }
    return PSYNC_OK;
}

static const char *const wire_err_names[PSYNC_ERR_COUNT_] = {
    "OK",       "ENOMEM", "EINVAL",    "ETRUNC", "EFORMAT",    "EVERSION",  "ELIMIT",
    "EDTYPE",   "ESHAPE", "ENOTFOUND", "EGRAPH", "ENONFINITE", "EMISMATCH", "EIO",
    "ETIMEOUT", "EPROTO", "EAUTH",     "ESTALE", "EBUSY",      "ECLOSED",   "ECONFIG",
};
_Static_assert(PSYNC_ECONFIG + 1 == PSYNC_ERR_COUNT_, "update wire_err_names");

const char *psync_wire_err_name(psync_err err)
{
    if ((int)err < 0 || err >= PSYNC_ERR_COUNT_) return "EUNKNOWN";
    return wire_err_names[err];
}

psync_err psync_wire_err_parse(const char *name)
{
    for (int i = 0; i < PSYNC_ERR_COUNT_; i++)
        if (!strcmp(wire_err_names[i], name)) return (psync_err)i;
    return PSYNC_EPROTO;
}

static bool wire_range_wanted(const psync_tensor *t, bool slots)
{
    if (t->dtype != PSYNC_DTYPE_F32) return false;
    return t->role == PSYNC_ROLE_PARAM || (slots && t->role == PSYNC_ROLE_SLOT);
}

static int wire_range_cmp(const void *a, const void *b)
{
    const psync_wire_range *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

psync_err psync_wire_merge_ranges(const psync_model *m, bool slots, psync_wire_range **out,
                                  uint32_t *n)
{
    psync_wire_range *r = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *r);
    uint32_t k = 0;
    if (!r) return psync_fail(PSYNC_ENOMEM, "merge ranges: %u tensors", m->n_tensors);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const psync_tensor *t = &m->tensors[i];
        if (wire_range_wanted(t, slots) && t->nbytes)
            r[k++] = (psync_wire_range){t->offset, t->nbytes};
    }
    qsort(r, k, sizeof *r, wire_range_cmp);
    uint32_t j = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (j && r[j - 1].off + psync_align_up(r[j - 1].len) == r[i].off && !(r[j - 1].len % 4))
            r[j - 1].len = r[i].off + r[i].len - r[j - 1].off;
        else
            r[j++] = r[i];
    }
    *out = r;
    *n = j;
    return PSYNC_OK;
}
