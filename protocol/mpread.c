/* mpread.c: the bounded msgpack cursor (see mpread.h). One function decodes
 * a value's header (type byte + length/count field) without trusting it;
 * every reader checks that header against the remaining input. */
#include "mpread.h"

#include <stdio.h>
#include <string.h>

typedef struct mp_head {
    psync_mp_kind kind;
    size_t hsize; /* bytes of the header itself */
    uint64_t u;   /* UINT value */
    int64_t i;    /* INT value */
    double f;     /* FLOAT value */
    uint64_t n;   /* str/bin/ext data length, array/map count */
} mp_head;

static uint64_t mp_be(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < bytes; k++)
        v = (v << 8) | p[k];
    return v;
}

void psync_mp_init(psync_mp *mp, const void *buf, size_t len, uint32_t max_depth)
{
    mp->buf = buf;
    mp->len = buf ? len : 0;
    mp->pos = 0;
    mp->depth = 0;
    mp->max_depth = max_depth > PSYNC_MP_DEPTH_MAX ? PSYNC_MP_DEPTH_MAX : max_depth;
}

static psync_err mp_trunc(const psync_mp *mp, const char *what)
{
    return psync_fail(PSYNC_ETRUNC, "input ends at byte %zu inside %s", mp->len, what);
}

/* Fixed-layout kinds: fills h from the type byte c and the `extra` bytes after
 * it (already known to be present). */
static void mp_fixed(mp_head *h, uint8_t c, const uint8_t *x)
{
    switch (c) {
    case 0xca: {
        uint32_t b = (uint32_t)mp_be(x, 4);
        float f;
        memcpy(&f, &b, 4);
        h->f = f;
        break;
    }
    case 0xcb: {
        uint64_t b = mp_be(x, 8);
        memcpy(&h->f, &b, 8);
        break;
    }
    case 0xcc:
        h->u = x[0];
        break;
    case 0xcd:
        h->u = mp_be(x, 2);
        break;
    case 0xce:
        h->u = mp_be(x, 4);
        break;
    case 0xcf:
        h->u = mp_be(x, 8);
        break;
    case 0xd0:
        h->i = (int8_t)x[0];
        break;
    case 0xd1:
        h->i = (int16_t)mp_be(x, 2);
        break;
    case 0xd2:
        h->i = (int32_t)mp_be(x, 4);
        break;
    case 0xd3:
        h->i = (int64_t)mp_be(x, 8);
        break;
    default:
        break;
    }
}

/* Type byte table for 0xc4..0xdf: kind, header size, length-field bytes. */
static const struct {
    psync_mp_kind kind;
    uint8_t hsize, lenbytes, fixlen;
} mp_tab[28] = {
    {PSYNC_MP_BIN, 2, 1, 0},   {PSYNC_MP_BIN, 3, 2, 0},   {PSYNC_MP_BIN, 5, 4, 0},
    {PSYNC_MP_EXT, 3, 1, 0},   {PSYNC_MP_EXT, 4, 2, 0},   {PSYNC_MP_EXT, 6, 4, 0},
    {PSYNC_MP_FLOAT, 5, 0, 0}, {PSYNC_MP_FLOAT, 9, 0, 0}, {PSYNC_MP_UINT, 2, 0, 0},
    {PSYNC_MP_UINT, 3, 0, 0},  {PSYNC_MP_UINT, 5, 0, 0},  {PSYNC_MP_UINT, 9, 0, 0},
    {PSYNC_MP_INT, 2, 0, 0},   {PSYNC_MP_INT, 3, 0, 0},   {PSYNC_MP_INT, 5, 0, 0},
    {PSYNC_MP_INT, 9, 0, 0},   {PSYNC_MP_EXT, 2, 0, 1},   {PSYNC_MP_EXT, 2, 0, 2},
    {PSYNC_MP_EXT, 2, 0, 4},   {PSYNC_MP_EXT, 2, 0, 8},   {PSYNC_MP_EXT, 2, 0, 16},
    {PSYNC_MP_STR, 2, 1, 0},   {PSYNC_MP_STR, 3, 2, 0},   {PSYNC_MP_STR, 5, 4, 0},
    {PSYNC_MP_ARRAY, 3, 2, 0}, {PSYNC_MP_ARRAY, 5, 4, 0}, {PSYNC_MP_MAP, 3, 2, 0},
    {PSYNC_MP_MAP, 5, 4, 0},
};

/* Single-byte kinds (fixint, fixmap, fixarray, fixstr, nil, bool). */
static int mp_short(mp_head *h, uint8_t c)
{
    h->hsize = 1;
    if (c <= 0x7f) {
        h->kind = PSYNC_MP_UINT;
        h->u = c;
        h->i = c;
    } else if (c <= 0x8f) {
        h->kind = PSYNC_MP_MAP;
        h->n = c & 0x0f;
    } else if (c <= 0x9f) {
        h->kind = PSYNC_MP_ARRAY;
        h->n = c & 0x0f;
    } else if (c <= 0xbf) {
        h->kind = PSYNC_MP_STR;
        h->n = c & 0x1f;
    } else if (c == 0xc0)
        h->kind = PSYNC_MP_NIL;
    else if (c == 0xc2 || c == 0xc3) {
        h->kind = PSYNC_MP_BOOL;
        h->u = c & 1;
    } else if (c >= 0xe0) {
        h->kind = PSYNC_MP_INT;
        h->i = (int8_t)c;
    } else
        return 0;
    return 1;
}

/* Decodes the header at the cursor without consuming it. */
static psync_err mp_head_at(const psync_mp *mp, mp_head *h)
{
    memset(h, 0, sizeof *h);
    if (mp->pos >= mp->len) return mp_trunc(mp, "a value header");
    uint8_t c = mp->buf[mp->pos];
    if (mp_short(h, c)) return PSYNC_OK;
    if (c == 0xc1)
        return psync_fail(PSYNC_EFORMAT, "byte %zu: reserved msgpack type 0xc1", mp->pos);
    unsigned t = c - 0xc4;
    h->kind = mp_tab[t].kind;
    h->hsize = mp_tab[t].hsize;
    if (psync_mp_remaining(mp) < h->hsize) return mp_trunc(mp, "a value header");
    const uint8_t *x = mp->buf + mp->pos + 1;
    if (mp_tab[t].lenbytes)
        h->n = mp_be(x, mp_tab[t].lenbytes);
    else if (mp_tab[t].fixlen)
        h->n = mp_tab[t].fixlen;
    else
        mp_fixed(h, c, x);
    if (h->kind == PSYNC_MP_UINT && h->u <= INT64_MAX) h->i = (int64_t)h->u;
    return PSYNC_OK;
}

psync_err psync_mp_peek(const psync_mp *mp, psync_mp_kind *out)
{
    mp_head h;
    psync_err err = mp_head_at(mp, &h);
    if (!err) *out = h.kind;
    return err;
}

const char *psync_mp_kind_name(psync_mp_kind k)
{
    static const char *names[] = {"?",   "nil", "bool",  "uint", "int", "float",
                                  "str", "bin", "array", "map",  "ext"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* Reads a header that must be of kind `want` (UINT also satisfies INT). */
static psync_err mp_expect(const psync_mp *mp, mp_head *h, psync_mp_kind want)
{
    psync_err err = mp_head_at(mp, h);
    if (err) return err;
    if (h->kind == want || (want == PSYNC_MP_INT && h->kind == PSYNC_MP_UINT)) return PSYNC_OK;
    return psync_fail(PSYNC_EFORMAT, "byte %zu: expected %s, got %s", mp->pos,
                      psync_mp_kind_name(want), psync_mp_kind_name(h->kind));
}

psync_err psync_mp_read_nil(psync_mp *mp)
{
    mp_head h;
    psync_err err = mp_expect(mp, &h, PSYNC_MP_NIL);
    if (!err) mp->pos += h.hsize;
    return err;
}

psync_err psync_mp_read_bool(psync_mp *mp, bool *out)
{
    mp_head h;
    psync_err err = mp_expect(mp, &h, PSYNC_MP_BOOL);
    if (err) return err;
    *out = h.u != 0;
    mp->pos += h.hsize;
    return PSYNC_OK;
}

psync_err psync_mp_read_uint(psync_mp *mp, uint64_t *out)
{
    mp_head h;
    psync_err err = mp_head_at(mp, &h);
    if (err) return err;
    if (h.kind == PSYNC_MP_INT && h.i >= 0)
        h.u = (uint64_t)h.i;
    else if (h.kind == PSYNC_MP_INT)
        return psync_fail(PSYNC_EFORMAT,
                          "byte %zu: negative value %lld where an unsigned "
                          "integer is required",
                          mp->pos, (long long)h.i);
    else if (h.kind != PSYNC_MP_UINT)
        return mp_expect(mp, &h, PSYNC_MP_UINT);
    *out = h.u;
    mp->pos += h.hsize;
    return PSYNC_OK;
}

psync_err psync_mp_read_int(psync_mp *mp, int64_t *out)
{
    mp_head h;
    psync_err err = mp_expect(mp, &h, PSYNC_MP_INT);
    if (err) return err;
    if (h.kind == PSYNC_MP_UINT && h.u > INT64_MAX)
        return psync_fail(PSYNC_ELIMIT, "byte %zu: integer %llu does not fit int64", mp->pos,
                          (unsigned long long)h.u);
    *out = h.kind == PSYNC_MP_UINT ? (int64_t)h.u : h.i;
    mp->pos += h.hsize;
    return PSYNC_OK;
}

psync_err psync_mp_read_double(psync_mp *mp, double *out)
{
    mp_head h;
    psync_err err = mp_head_at(mp, &h);
    if (err) return err;
    if (h.kind == PSYNC_MP_FLOAT)
        *out = h.f;
    else if (h.kind == PSYNC_MP_UINT)
        *out = (double)h.u;
    else if (h.kind == PSYNC_MP_INT)
        *out = (double)h.i;
    else
        return mp_expect(mp, &h, PSYNC_MP_FLOAT);
    mp->pos += h.hsize;
    return PSYNC_OK;
}

/* str or bin body: header then n bytes that must all be present. */
static psync_err mp_read_bytes(psync_mp *mp, psync_mp_kind want, const uint8_t **p, uint32_t *n)
{
    mp_head h;
    psync_err err = mp_expect(mp, &h, want);
    if (err) return err;
    if (h.n > psync_mp_remaining(mp) - h.hsize)
        return psync_fail(PSYNC_ETRUNC, "byte %zu: %s of %llu bytes but only %zu remain", mp->pos,
                          psync_mp_kind_name(want), (unsigned long long)h.n,
                          psync_mp_remaining(mp) - h.hsize);
    *p = mp->buf + mp->pos + h.hsize;
    *n = (uint32_t)h.n;
    mp->pos += h.hsize + h.n;
    return PSYNC_OK;
}

psync_err psync_mp_read_str(psync_mp *mp, const char **s, uint32_t *n)
{
    const uint8_t *p = NULL;
    psync_err err = mp_read_bytes(mp, PSYNC_MP_STR, &p, n);
    if (!err) *s = (const char *)p;
    return err;
}

psync_err psync_mp_read_bin(psync_mp *mp, const uint8_t **p, uint32_t *n)
{
    return mp_read_bytes(mp, PSYNC_MP_BIN, p, n);
}

psync_err psync_mp_read_str_copy(psync_mp *mp, char *dst, size_t cap)
{
    size_t start = mp->pos;
    const char *s;
    uint32_t n = 0;
    psync_err err = psync_mp_read_str(mp, &s, &n);
    if (err) return err;
    if (n >= cap) {
        mp->pos = start;
        return psync_fail(PSYNC_ELIMIT, "byte %zu: string of %u bytes exceeds the limit of %zu",
                          start, n, cap - 1);
    }
    if (memchr(s, 0, n)) {
        mp->pos = start;
        return psync_fail(PSYNC_EFORMAT, "byte %zu: string contains a NUL byte", start);
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return PSYNC_OK;
}

psync_err psync_mp_read_key(psync_mp *mp, char *dst, size_t cap)
{
    return psync_mp_read_str_copy(mp, dst, cap);
}

static psync_err mp_read_container(psync_mp *mp, psync_mp_kind want, uint32_t *n, uint32_t max)
{
    mp_head h;
    psync_err err = mp_expect(mp, &h, want);
    if (err) return err;
    const char *what = psync_mp_kind_name(want);
    if (h.n > max)
        return psync_fail(PSYNC_ELIMIT, "byte %zu: %s of %llu entries exceeds the limit of %u",
                          mp->pos, what, (unsigned long long)h.n, max);
    uint64_t min_bytes = want == PSYNC_MP_MAP ? 2 * h.n : h.n;
    if (min_bytes > psync_mp_remaining(mp) - h.hsize)
        return psync_fail(PSYNC_ETRUNC, "byte %zu: %s of %llu entries but only %zu bytes remain",
                          mp->pos, what, (unsigned long long)h.n, psync_mp_remaining(mp) - h.hsize);
    if (mp->depth >= mp->max_depth)
        return psync_fail(PSYNC_ELIMIT, "byte %zu: nesting deeper than %u", mp->pos, mp->max_depth);
    mp->depth++;
    mp->pos += h.hsize;
    *n = (uint32_t)h.n;
    return PSYNC_OK;
}

psync_err psync_mp_read_array(psync_mp *mp, uint32_t *n, uint32_t max)
{
    return mp_read_container(mp, PSYNC_MP_ARRAY, n, max);
}

psync_err psync_mp_read_map(psync_mp *mp, uint32_t *n, uint32_t max)
{
    return mp_read_container(mp, PSYNC_MP_MAP, n, max);
}

void psync_mp_end(psync_mp *mp)
{
    if (mp->depth > 0) mp->depth--;
}

/* Skips the scalar or opens the container at the cursor; *items gets the
 * number of values the container holds (0 for scalars). */
static psync_err mp_skip_one(psync_mp *mp, uint64_t *items, bool *container)
{
    mp_head h;
    psync_err err = mp_head_at(mp, &h);
    if (err) return err;
    *items = 0;
    *container = h.kind == PSYNC_MP_ARRAY || h.kind == PSYNC_MP_MAP;
    if (h.kind == PSYNC_MP_ARRAY || h.kind == PSYNC_MP_MAP) {
        *items = h.kind == PSYNC_MP_MAP ? 2 * h.n : h.n;
        if (*items > psync_mp_remaining(mp) - h.hsize)
            return psync_fail(PSYNC_ETRUNC,
                              "byte %zu: %s of %llu entries but only %zu bytes "
                              "remain",
                              mp->pos, psync_mp_kind_name(h.kind), (unsigned long long)h.n,
                              psync_mp_remaining(mp) - h.hsize);
    } else if (h.kind == PSYNC_MP_STR || h.kind == PSYNC_MP_BIN || h.kind == PSYNC_MP_EXT) {
        if (h.n > psync_mp_remaining(mp) - h.hsize)
            return psync_fail(PSYNC_ETRUNC, "byte %zu: %s of %llu bytes but only %zu remain",
                              mp->pos, psync_mp_kind_name(h.kind), (unsigned long long)h.n,
                              psync_mp_remaining(mp) - h.hsize);
        mp->pos += h.n;
    }
    mp->pos += h.hsize;
    return PSYNC_OK;
}

psync_err psync_mp_skip(psync_mp *mp)
{
    uint64_t left[PSYNC_MP_DEPTH_MAX + 1];
    uint32_t top = 0; /* open containers skipped so far */
    left[0] = 1;
    for (;;) {
        while (top > 0 && left[top] == 0)
            top--;
        if (left[top] == 0) return PSYNC_OK;
        left[top]--;
        uint64_t items;
        bool container;
        size_t at = mp->pos;
        psync_err err = mp_skip_one(mp, &items, &container);
        if (err) return err;
        if (!container) continue;
        if (mp->depth + top + 1 > mp->max_depth)
            return psync_fail(PSYNC_ELIMIT, "byte %zu: nesting deeper than %u", at, mp->max_depth);
        left[++top] = items;
    }
}

psync_err psync_mp_wrap(psync_err err, const char *field)
{
    if (!err) return PSYNC_OK;
    char detail[256];
    if (!field || !*field) return err;
    snprintf(detail, sizeof detail, "%s", psync_errdetail());
    return psync_fail(err, "%s: %s", field, detail);
}

/* Index of the field named by key[0..n), or -1. */
static int mp_field_find(const psync_mp_field *fields, unsigned nfields, const char *key,
                         uint32_t n)
{
    for (unsigned i = 0; i < nfields; i++)
        if (strlen(fields[i].key) == n && !memcmp(fields[i].key, key, n)) return (int)i;
    return -1;
}

/* Reads one key and its value; seen[] marks known keys already read. */
static psync_err mp_field_entry(psync_mp *mp, const psync_mp_field *fields, unsigned nfields,
                                void *ctx, const char *path, bool *seen)
{
    const char *key;
    uint32_t n = 0;
    psync_err err = psync_mp_read_str(mp, &key, &n);
    if (err) return psync_mp_wrap(err, path);
    int i = mp_field_find(fields, nfields, key, n);
    char sub[160];
    if (i < 0) { /* unknown key: skipped, but must be well-formed */
        snprintf(sub, sizeof sub, "%s%s%.*s", path, *path ? "." : "", (int)(n < 64 ? n : 64), key);
        return psync_mp_wrap(psync_mp_skip(mp), sub);
    }
    snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", fields[i].key);
    if (seen[i]) return psync_fail(PSYNC_EFORMAT, "%s: key appears twice", sub);
    seen[i] = true;
    return fields[i].read(mp, ctx, sub);
}

psync_err psync_mp_read_fields_body(psync_mp *mp, uint32_t n, const psync_mp_field *fields,
                                    unsigned nfields, void *ctx, const char *path)
{
    bool seen[PSYNC_MP_FIELDS_MAX] = {false};
    if (nfields > PSYNC_MP_FIELDS_MAX)
        return psync_fail(PSYNC_EINVAL, "%s: %u fields exceed %d", path, nfields,
                          PSYNC_MP_FIELDS_MAX);
    for (uint32_t e = 0; e < n; e++) {
        psync_err err = mp_field_entry(mp, fields, nfields, ctx, path, seen);
        if (err) return err;
    }
    psync_mp_end(mp);
    for (unsigned i = 0; i < nfields; i++)
        if (!seen[i] && !fields[i].optional)
            return psync_fail(PSYNC_EFORMAT, "%s%s%s: required key is missing", path,
                              *path ? "." : "", fields[i].key);
    return PSYNC_OK;
}

psync_err psync_mp_read_fields(psync_mp *mp, uint32_t max, const psync_mp_field *fields,
                               unsigned nfields, void *ctx, const char *path)
{
    uint32_t n = 0;
    psync_err err = psync_mp_read_map(mp, &n, max);
    if (err) return psync_mp_wrap(err, path);
    return psync_mp_read_fields_body(mp, n, fields, nfields, ctx, path);
}
