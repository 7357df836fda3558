/* wire.h: psync's wire messages. A message is one ZeroMQ multipart message:
 * a msgpack map header (keys "v", "t", "inc" + the type's fields, all listed
 * in messages.def) and, for chunk or document types, one payload frame. The
 * codec is generated from messages.def; decoding untrusted headers is
 * bounded (protocol/mpread.h) and fails with a psync_err, never crashes. */
#ifndef PSYNC_WIRE_H
#define PSYNC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "error.h"
#include "model.h"

#define PSYNC_PROTO_VERSION 2      /* 2: bootstrap_shm; docs/protocol.md */
#define PSYNC_WIRE_MAX_HEADER 2048 /* bytes of an encoded header, hard cap */
#define PSYNC_WIRE_MAX_KEYS 32     /* entries in a header map (unknown keys skipped) */
#define PSYNC_WIRE_MAX_FRAMES 3    /* [routing id] header [payload] */

typedef enum psync_msg_type {
    PSYNC_MSG_NONE_ = 0,
#define PSYNC_WIRE_MSG(ID, name, ch, dir, pl, fields, doc) PSYNC_MSG_##ID,
#include "messages.def"
#undef PSYNC_WIRE_MSG
    PSYNC_MSG_COUNT_
} psync_msg_type;

/* Bit index of each field, then PSYNC_WF(x) = its mask bit. */
enum {
#define PSYNC_WIRE_FIELD(id, kind, lo, hi, doc) PSYNC_WFI_##id,
#include "messages.def"
#undef PSYNC_WIRE_FIELD
    PSYNC_WFI_COUNT_
};
#define PSYNC_WF(id) (UINT64_C(1) << PSYNC_WFI_##id)

typedef enum psync_wire_kind {
    PSYNC_WK_U64 = 1,
    PSYNC_WK_I64,
    PSYNC_WK_F64,
    PSYNC_WK_STR,
    PSYNC_WK_BOOL
} psync_wire_kind;
typedef enum psync_wire_channel {
    PSYNC_CH_CONTROL = 1,
    PSYNC_CH_BULK = 2,
    PSYNC_CH_BOTH = 3
} psync_wire_channel;
typedef enum psync_wire_dir {
    PSYNC_DIR_TO_DAEMON = 1,
    PSYNC_DIR_TO_WORKER = 2,
    PSYNC_DIR_BOTH = 3
} psync_wire_dir;
typedef enum psync_wire_payload {
    PSYNC_PL_NONE = 0,
    PSYNC_PL_CHUNK,
    PSYNC_PL_DOC
} psync_wire_payload;

/* One row of the field table. */
typedef struct psync_wire_field_info {
    const char *key;
    psync_wire_kind kind;
    double lo, hi; /* numeric bounds; for STR hi = max length */
    const char *doc;
} psync_wire_field_info;

/* One row of the message table. */
typedef struct psync_wire_msg_info {
    const char *name; /* value of "t" */
    psync_wire_channel channel;
    psync_wire_dir dir;
    psync_wire_payload payload;
    uint64_t fields; /* PSYNC_WF() mask, all required */
    const char *doc;
} psync_wire_msg_info;

#define PSYNC_WIRE_DECL_U64(id, hi) uint64_t id;
#define PSYNC_WIRE_DECL_I64(id, hi) int64_t id;
#define PSYNC_WIRE_DECL_F64(id, hi) double id;
#define PSYNC_WIRE_DECL_BOOL(id, hi) bool id;
#define PSYNC_WIRE_DECL_STR(id, hi) char id[(hi) + 1];

/* A decoded (or to-be-encoded) header. Only the fields of type t matter. */
typedef struct psync_wire_hdr {
    uint64_t v; /* protocol version (PSYNC_PROTO_VERSION) */
    psync_msg_type t;
    uint64_t inc; /* daemon incarnation (0: unknown to the sender) */
#define PSYNC_WIRE_FIELD(id, kind, lo, hi, doc) PSYNC_WIRE_DECL_##kind(id, hi)
#include "messages.def"
#undef PSYNC_WIRE_FIELD
} psync_wire_hdr;

/* The tables (index = psync_msg_type / field bit index). */
const psync_wire_msg_info *psync_wire_msg(psync_msg_type t);
const psync_wire_field_info *psync_wire_field(unsigned bit);

/* Name of a message type ("hello") or "?" for an unknown value. */
const char *psync_wire_type_name(psync_msg_type t);

/* Initialises h for type t: version, zeroed fields. */
void psync_wire_init(psync_wire_hdr *h, psync_msg_type t, uint64_t inc);

/* Encodes h (its type's fields only) into buf[cap]; *len gets the size.
 * PSYNC_ELIMIT if it does not fit, PSYNC_EINVAL if a field is out of its
 * declared bounds (so we never send what a peer must refuse). */
psync_err psync_wire_encode(const psync_wire_hdr *h, void *buf, size_t cap, size_t *len);

/* Decodes an untrusted header. Errors (detail names the field):
 * PSYNC_ELIMIT header over PSYNC_WIRE_MAX_HEADER, too many keys, value out
 * of bounds; PSYNC_ETRUNC input ends early; PSYNC_EFORMAT not a map, wrong
 * value kind, duplicate or missing field, trailing bytes; PSYNC_EVERSION
 * "v" is not PSYNC_PROTO_VERSION; PSYNC_EPROTO unknown "t". Unknown keys
 * with scalar values are skipped (forward compatibility). */
psync_err psync_wire_decode(const void *buf, size_t len, psync_wire_hdr *out);

/* zlib crc32 of a chunk (PCLMULQDQ-accelerated where available, same
 * values as zlib's crc32()). */
uint32_t psync_wire_crc(const void *data, size_t len);
/* Continues a crc32 over more bytes: crc_update(crc(a), b) == crc(a||b). */
uint32_t psync_wire_crc_update(uint32_t crc, const void *data, size_t len);

/* Continues a crc32 over len bytes (a multiple of 4) and, in the same pass,
 * sets *finite to whether every 4-byte little-endian f32 in them is finite
 * (no NaN, no Inf): a snapshot chunk is checked reading it once. */
uint32_t psync_wire_crc_finite(uint32_t crc, const void *data, size_t len, bool *finite);

/* Copies len bytes and returns their crc32, in one pass over memory. */
uint32_t psync_wire_copy_crc(void *dst, const void *src, size_t len);
/* The same, continuing crc (of the bytes before): the crc is of what was
 * written to dst, so it says exactly what the copy holds even if src
 * changed meanwhile. */
uint32_t psync_wire_copy_crc_update(uint32_t crc, void *dst, const void *src, size_t len);

/* Where chunk h lies in its stream: total <= max_total, offset a multiple
 * of chunk_bytes (non-zero) below total; *len = min(chunk_bytes, total -
 * offset). PSYNC_EPROTO / PSYNC_ELIMIT + detail. */
psync_err psync_wire_chunk_span(const psync_wire_hdr *h, uint64_t chunk_bytes, uint64_t max_total,
                                uint64_t *len);

/* Checks a chunk header against its payload: total <= max_total, offset a
 * multiple of chunk_bytes and < total, len == min(chunk_bytes, total -
 * offset), crc matches (skipped when data is NULL: the caller checks it,
 * e.g. with psync_wire_copy_crc). PSYNC_EPROTO / PSYNC_ELIMIT + detail. */
psync_err psync_wire_chunk_check(const psync_wire_hdr *h, const void *data, size_t len,
                                 uint64_t chunk_bytes, uint64_t max_total);

/* Error names on the wire ("EMISMATCH"); "EUNKNOWN" out of range. */
const char *psync_wire_err_name(psync_err err);
/* Inverse of psync_wire_err_name; PSYNC_EPROTO for an unknown name. */
psync_err psync_wire_err_parse(const char *name);

/* A byte range [off, off+len) of the payload arena. */
typedef struct psync_wire_range {
    uint64_t off, len;
} psync_wire_range;

/* The ranges of m's payload that a merge defines: every f32 param, and
 * every f32 slot if slots is true, in offset order (adjacent ones joined).
 * *out is malloc'ed (caller frees), *n its count. PSYNC_ENOMEM. */
psync_err psync_wire_merge_ranges(const psync_model *m, bool slots, psync_wire_range **out,
                                  uint32_t *n);

/* Sends one message on a ZeroMQ socket: [rid (if rid_len)] header [payload].
 * payload (may be NULL) is moved into ZeroMQ on success (zmq_msg_send
 * semantics: closed by the call); on failure it stays owned by the caller.
 * flags: ZMQ_DONTWAIT or 0. PSYNC_EBUSY if the peer's queue is full
 * (EAGAIN), PSYNC_ECLOSED for EHOSTUNREACH, PSYNC_EIO otherwise. */
psync_err psync_wire_send(void *sock, const void *rid, size_t rid_len, const psync_wire_hdr *h,
                          zmq_msg_t *payload, int flags);

/* Receives one whole multipart message (ZMQ_DONTWAIT). Frames land in
 * frames[0..*nframes) (zmq_msg_t, caller must zmq_msg_close each); extra
 * frames beyond PSYNC_WIRE_MAX_FRAMES are read and dropped and *extra set.
 * PSYNC_EBUSY if nothing is waiting, PSYNC_EIO on socket errors. */
psync_err psync_wire_recv(void *sock, zmq_msg_t frames[PSYNC_WIRE_MAX_FRAMES], int *nframes,
                          bool *extra);

#endif
