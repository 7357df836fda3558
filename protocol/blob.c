/* blob.c: encoding a model into a blob and locating a blob's payload (see
 * blob.h and docs/blob-format.md). The header is packed by msgpack-c's
 * packer straight into the caller's buffer; the payload is one memcpy. */
#include "blob.h"

#include <stdlib.h>
#include <string.h>

#include "graph_codec.h"
#include "mpread.h"
#include "mpwrite.h"

#define BLOB_ENTRIES 10
/* "pad" key (4) + bin8 header (2) + "payload" key (8) + bin32 header (5). */
#define BLOB_TAIL_BYTES 19

static void blob_pack_tensor(msgpack_packer *pk, const psync_tensor *t)
{
    msgpack_pack_map(pk, 6);
    psync_mp_pack_cstr(pk, "name");
    psync_mp_pack_cstr(pk, t->name);
    psync_mp_pack_cstr(pk, "role");
    psync_mp_pack_cstr(pk, psync_role_name(t->role) ? psync_role_name(t->role) : "");
    psync_mp_pack_cstr(pk, "dtype");
    psync_mp_pack_cstr(pk, psync_dtype_name(t->dtype) ? psync_dtype_name(t->dtype) : "");
    psync_mp_pack_cstr(pk, "shape");
    psync_codec_pack_shape(pk, t->rank, t->shape);
    psync_mp_pack_cstr(pk, "offset");
    msgpack_pack_uint64(pk, t->offset);
    psync_mp_pack_cstr(pk, "nbytes");
    msgpack_pack_uint64(pk, t->nbytes);
}

static void blob_pack_double(msgpack_packer *pk, const char *key, double v)
{
    psync_mp_pack_cstr(pk, key);
    msgpack_pack_double(pk, v);
}

static void blob_pack_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
    psync_mp_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, v);
}

static void blob_pack_optimizer(msgpack_packer *pk, const psync_optimizer *o)
{
    msgpack_pack_map(pk, 8);
    psync_mp_pack_cstr(pk, "kind");
    psync_mp_pack_cstr(pk, psync_opt_name(o->kind) ? psync_opt_name(o->kind) : "");
    blob_pack_double(pk, "lr", o->lr);
    blob_pack_double(pk, "momentum", o->momentum);
    blob_pack_double(pk, "beta1", o->beta1);
    blob_pack_double(pk, "beta2", o->beta2);
    blob_pack_double(pk, "eps", o->eps);
    blob_pack_double(pk, "weight_decay", o->weight_decay);
    blob_pack_uint(pk, "step", o->step);
}

static void blob_pack_state(msgpack_packer *pk, const psync_train_state *s)
{
    msgpack_pack_map(pk, 7);
    blob_pack_uint(pk, "global_step", s->global_step);
    blob_pack_uint(pk, "samples_seen", s->samples_seen);
    blob_pack_uint(pk, "epoch", s->epoch);
    blob_pack_uint(pk, "cursor", s->cursor);
    blob_pack_uint(pk, "merge_version", s->merge_version);
    psync_mp_pack_cstr(pk, "rng");
    msgpack_pack_array(pk, 4);
    for (int i = 0; i < 4; i++)
        msgpack_pack_uint64(pk, s->rng[i]);
    blob_pack_uint(pk, "batch_size", s->batch_size);
}

/* Everything before the "pad" entry. */
static void blob_pack_header(msgpack_packer *pk, const psync_model *m)
{
    msgpack_pack_map(pk, BLOB_ENTRIES);
    psync_mp_pack_cstr(pk, "format");
    psync_mp_pack_cstr(pk, PSYNC_BLOB_FORMAT);
    blob_pack_uint(pk, "version", PSYNC_BLOB_VERSION);
    psync_mp_pack_cstr(pk, "graph");
    psync_graph_pack(&m->graph, pk);
    psync_mp_pack_cstr(pk, "tensors");
    msgpack_pack_array(pk, m->n_tensors);
    for (uint32_t i = 0; i < m->n_tensors; i++)
        blob_pack_tensor(pk, &m->tensors[i]);
    psync_mp_pack_cstr(pk, "optimizer");
    blob_pack_optimizer(pk, &m->opt);
    psync_mp_pack_cstr(pk, "state");
    blob_pack_state(pk, &m->state);
    psync_mp_pack_cstr(pk, "meta");
    msgpack_pack_map(pk, m->n_meta);
    for (uint32_t i = 0; i < m->n_meta; i++) {
        psync_mp_pack_cstr(pk, m->meta[i].key);
        psync_mp_pack_cstr(pk, m->meta[i].value);
    }
    blob_pack_uint(pk, "layout_hash", psync_model_layout_hash(m));
}

/* Zero bytes that bring the payload (after the tail) to a 64 multiple. */
static size_t blob_pad(size_t header)
{
    return (PSYNC_ALIGN - (header + BLOB_TAIL_BYTES) % PSYNC_ALIGN) % PSYNC_ALIGN;
}

psync_err psync_blob_size(const psync_model *m, size_t *out)
{
    if (m->payload_len > UINT32_MAX)
        return psync_fail(PSYNC_ELIMIT, "payload of %llu bytes exceeds the 4 GiB blob limit",
                          (unsigned long long)m->payload_len);
    msgpack_packer pk;
    psync_mpbuf b;
    psync_mpbuf_packer(&pk, &b, NULL, 0);
    blob_pack_header(&pk, m);
    *out = b.len + blob_pad(b.len) + BLOB_TAIL_BYTES + m->payload_len;
    return PSYNC_OK;
}

/* Writes the pad entry, the payload key and the bin32 header at p. */
static uint8_t *blob_put_tail(uint8_t *p, size_t pad, uint32_t plen)
{
    static const uint8_t pad_key[] = {0xa3, 'p', 'a', 'd', 0xc4};
    static const uint8_t payload_key[] = {0xa7, 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0xc6};
    memcpy(p, pad_key, sizeof pad_key);
    p += sizeof pad_key;
    *p++ = (uint8_t)pad;
    memset(p, 0, pad);
    p += pad;
    memcpy(p, payload_key, sizeof payload_key);
    p += sizeof payload_key;
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(plen >> (8 * i));
    return p;
}

psync_err psync_blob_encode_into(const psync_model *m, void *buf, size_t cap, size_t *len)
{
    size_t head = 0;
    psync_err err = psync_blob_encode_head(m, buf, cap, &head);
    if (err) return err;
    if (m->payload_len > cap - head)
        return psync_fail(PSYNC_ELIMIT, "blob needs %zu bytes but the buffer holds %zu",
                          head + (size_t)m->payload_len, cap);
    if (m->payload_len) memcpy((uint8_t *)buf + head, m->payload, m->payload_len);
    *len = head + m->payload_len;
    return PSYNC_OK;
}

psync_err psync_blob_encode_head(const psync_model *m, void *buf, size_t cap, size_t *head)
{
    if (m->payload_len > UINT32_MAX)
        return psync_fail(PSYNC_ELIMIT, "payload of %llu bytes exceeds the 4 GiB blob limit",
                          (unsigned long long)m->payload_len);
    msgpack_packer pk;
    psync_mpbuf b;
    psync_mpbuf_packer(&pk, &b, buf, cap);
    blob_pack_header(&pk, m);
    size_t pad = blob_pad(b.len), need = b.len + pad + BLOB_TAIL_BYTES;
    if (b.overflow || need > cap)
        return psync_fail(PSYNC_ELIMIT, "blob head needs %zu bytes but the buffer holds %zu", need,
                          cap);
    blob_put_tail((uint8_t *)buf + b.len, pad, (uint32_t)m->payload_len);
    *head = need;
    return PSYNC_OK;
}

psync_err psync_blob_freeze(psync_model *m, const void **blob, size_t *len)
{
    size_t size = 0;
    psync_err err = psync_blob_size(m, &size);
    if (err) return err;
    size_t head = size - m->payload_len; /* header + pad + tail, a 64 multiple */
    if (head > m->headroom || (!m->payload_owned && !m->blob))
        return psync_fail(PSYNC_ELIMIT,
                          "freeze needs %zu writable bytes before the payload but "
                          "the model has %llu; call psync_model_reserve_headroom first",
                          head, (unsigned long long)m->headroom);
    msgpack_packer pk;
    psync_mpbuf b;
    uint8_t *start = m->payload - head;
    psync_mpbuf_packer(&pk, &b, start, head);
    blob_pack_header(&pk, m);
    if (b.overflow || b.len + blob_pad(b.len) + BLOB_TAIL_BYTES != head)
        return psync_fail(PSYNC_EINVAL, "blob header changed size while freezing");
    blob_put_tail(start + b.len, blob_pad(b.len), (uint32_t)m->payload_len);
    *blob = start;
    *len = size;
    return PSYNC_OK;
}

psync_err psync_blob_encode(const psync_model *m, void **out, size_t *len)
{
    size_t size = 0;
    psync_err err = psync_blob_size(m, &size);
    if (err) return err;
    void *buf = NULL;
    if (posix_memalign(&buf, PSYNC_ALIGN, size))
        return psync_fail(PSYNC_ENOMEM, "blob of %zu bytes", size);
    err = psync_blob_encode_into(m, buf, size, len);
    if (err) {
        free(buf);
        return err;
    }
    *out = buf;
    return PSYNC_OK;
}

psync_err psync_blob_payload(const void *buf, size_t len, uint64_t *offset, uint64_t *plen)
{
    psync_mp mp;
    uint32_t n;
    psync_mp_init(&mp, buf, len, psync_default_limits.max_depth);
    psync_err err = psync_mp_read_map(&mp, &n, 64);
    for (uint32_t i = 0; i < n && !err; i++) {
        const char *key;
        uint32_t klen;
        err = psync_mp_read_str(&mp, &key, &klen);
        if (err || klen != 7 || memcmp(key, "payload", 7)) {
            err = err ? err : psync_mp_skip(&mp);
            continue;
        }
        const uint8_t *p;
        uint32_t bytes;
        err = psync_mp_wrap(psync_mp_read_bin(&mp, &p, &bytes), "payload");
        if (!err) {
            *offset = (uint64_t)(p - (const uint8_t *)buf);
            *plen = bytes;
            return PSYNC_OK;
        }
    }
    return err ? err : psync_fail(PSYNC_EFORMAT, "blob has no payload entry");
}
