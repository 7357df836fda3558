/* client.h: the psync client's internal state and the functions its files
 * share (sockets.c, session.c, transfer.c, apply.c, join.c). */
#ifndef PSYNC_CLIENT_INTERNAL_H
#define PSYNC_CLIENT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <zmq.h>

#include "log.h"
#include "psync_client.h"
#include "security.h"
#include "shm.h"
#include "wire.h"

/* A chunked stream being received: MERGED keeps the received frames as
 * they are (hold: no copy until applied), BOOTSTRAP assembles the blob
 * into one buffer. Latest version wins. */
#define PC_MAX_EPS 4
#define PC_SHM_SEGS 5 /* merged buffers mapped at once (psyncd has up to 4) */

/* One of psyncd's merged segments, mapped read-only: unmapped when neither
 * the client's cache nor any frame over it refers to it any more. */
typedef struct pc_seg {
    psync_shm map;
    atomic_int refs;
} pc_seg;

typedef struct pc_stage {
    bool hold;
    bool twin_wanted;  /* !hold: assemble a second copy too (a bootstrap's
                        * kept payload, written while each chunk is in cache) */
    uint8_t *buf;      /* !hold: the assembled bytes */
    uint8_t *twin;     /* twin_wanted && !keep: the same bytes again */
    bool keep;         /* twin_wanted, shared memory in use when the stream
                        * began: the frames are kept instead of a twin (most
                        * lie over psyncd's segment: no second copy) */
    zmq_msg_t *frames; /* hold or keep: frame k where have[k] */
    uint32_t *crcs;    /* hold: chunk k's crc32 from its header; keep: of its copy */
    uint8_t *late;     /* hold: chunk k's crc not checked yet: apply checks
                        * it in its copy (a frame over psyncd's segment) */
    uint64_t cap, total, version, layout, received, n_chunks, cap_chunks;
    uint8_t *have;
    bool complete;
} pc_stage;

/* The last merged payload this client received, as the daemon sent it (not
 * our trained weights): what we upload when a restarted daemon asks. Held
 * without a copy where we can: the frames a merged version came in, or the
 * blob we uploaded; after a bootstrap, the blob's twin. The payload is
 * bytes [base, base + len) of that stream (kept.c). */
typedef struct pc_kept {
    zmq_msg_t *frames; /* n_frames frames of `chunk` bytes (the last shorter) */
    uint32_t *crcs;    /* their crc32s: frames over psyncd's shared memory
                        * can be rewritten by it, so a gather checks them */
    uint64_t n_frames, chunk;
    uint8_t *buf; /* or one contiguous stream (free()) */
    uint64_t base, len, version, layout;
} pc_kept;

struct psync_client {
    void *ctx, *control, *bulk;
    psync_security *sec;          /* CURVE keys, or explicit plain */
    psync_handshake_watch *watch; /* control handshake, until one succeeds */
    bool retry_auth;
    char control_ep[256], bulk_ep[256];
    char name[64];
    int64_t rank;
    uint8_t rid[16];
    /* from the daemon */
    uint64_t inc, member, layout, dversion;
    char policy[16];
    psync_client_action action;
    double alpha;
    bool slots;
    uint64_t heartbeat_ms, timeout_ms, chunk_bytes;
    bool welcomed, rejoin;
    bool upload_asked; /* a welcome asked for our model and we have not sent it */
    /* ours */
    uint64_t held, held_inc, my_layout, my_model_bytes;
    uint64_t last_hb_ms, last_heard_ms, last_hello_ms;
    uint64_t rejoin_backoff_ms; /* between hellos while rejoining */
    pc_stage merged, boot;
    pc_kept kept;
    /* Zero-copy frames ZeroMQ has not released yet, and an eventfd its I/O
     * threads signal when that count drops to zero (transfer.c). */
    atomic_uint_fast64_t inflight;
    int efd;
    /* Times the sockets were closed (pc_sockets_close): what was queued
     * then was dropped, so a send that spans one did not arrive. */
    uint64_t resets;
    psync_wire_range *ranges;
    uint32_t n_ranges;
    uint64_t ranges_layout;
    psync_err last_err;
    char last_detail[600];
    /* failover.c: daemon endpoints (primary, standbys) and epochs */
    char eps[PC_MAX_EPS][256];
    uint32_t n_eps, cur_ep;
    psync_client_opts opts; /* as given, strings copied below */
    char key_file[512], server_key[512];
    uint64_t epoch;        /* highest daemon epoch seen */
    bool failover_pending; /* switch endpoint after this receive */
    uint64_t boot_inc;     /* incarnation a bootstrap was asked of */
    bool boot_again;       /* shared memory declined during it: ask again */
    /* shm.c: a same-host daemon's shared memory, once we accepted it */
    bool shm, no_shm;
    uint64_t shm_pid;
    bool inbox_busy;                  /* a snapshot in the inbox may not be merged yet: */
    uint64_t inbox_base;              /* ...its base; busy until held moves past it */
    psync_shm inbox;                  /* ours to write sync snapshots into */
    struct pc_seg *segs[PC_SHM_SEGS]; /* the daemon's merged buffers we mapped */
    uint32_t next_seg;
};

uint64_t pc_now_ms(void);

/* failover.c */
/* Keeps o (strings copied) and splits a control list "A,B" (at most
 * PC_MAX_EPS) into c->eps; *first is o with the first endpoint. */
psync_err pc_failover_init(psync_client *c, const psync_client_opts *o, psync_client_opts *first);
/* Closes the sockets and connects to the next endpoint (with one endpoint:
 * only rejoins); logs why. */
void pc_failover(psync_client *c, const char *why);
/* Closes and reopens the sockets on the current endpoint (anything queued
 * is dropped and every zero-copy frame released) and rejoins; logs why. */
void pc_reconnect(psync_client *c, const char *why);
/* true (and a failover is pending) if a daemon's epoch is below the
 * highest seen; else records it. */
bool pc_epoch_stale(psync_client *c, uint64_t epoch);

/* sockets.c */
psync_err pc_endpoints(psync_client *c, const psync_client_opts *o);
/* Security from o (or the environment), then the context and both sockets. */
psync_err pc_sockets_open(psync_client *c, const psync_client_opts *o);
/* Closes both sockets and terminates the context (every queued frame is
 * dropped and released); counts it in c->resets. */
void pc_sockets_close(psync_client *c);
/* Outcome of the control handshake so far, without waiting: PSYNC_OK
 * (authenticated or still trying) or PSYNC_EAUTH with a detail saying what
 * to fix (wrong server key, our key not on the allow-list, plain vs CURVE). */
psync_err pc_auth_poll(psync_client *c);

/* session.c: hello, heartbeats, receiving and dispatching messages */
psync_err pc_send_hello(psync_client *c);
/* Sends a heartbeat if due; re-sends hello when a rejoin is pending. */
void pc_tick(psync_client *c);
/* Waits up to timeout_ms for traffic and handles all of it. */
psync_err pc_pump(psync_client *c, int timeout_ms);
/* Sends a header-only message on the control or bulk socket. */
psync_err pc_send(psync_client *c, void *sock, psync_wire_hdr *h);

/* transfer.c: chunked streams */
/* Sends len bytes of data as `type` chunks on bulk; h carries the type's
 * other fields (offset, total, crc are filled here). Either way data is
 * the caller's again when this returns: copied into ZeroMQ messages, or
 * (zero_copy) sent from data itself, and then this waits (pumping) until
 * ZeroMQ has released every frame, reconnecting after the member timeout
 * if the daemon takes nothing (PSYNC_EBUSY then). PSYNC_EBUSY too if the
 * connection was reset for any reason meanwhile: the rest was dropped. */
psync_err pc_send_chunks(psync_client *c, psync_wire_hdr *h, const uint8_t *data, uint64_t len,
                         bool zero_copy);
/* PSYNC_OK if the sockets were not reset since c->resets was `resets`,
 * else PSYNC_EBUSY saying the message of type t was dropped. */
psync_err pc_sent_whole(const psync_client *c, uint64_t resets, psync_msg_type t);
/* Drains the release eventfd after a poll said it is readable. */
void pc_inflight_drain(psync_client *c);
/* Takes one received chunk into st (latest version wins); in hold mode
 * the frame is moved in, in keep mode copied and moved in (a stream that
 * begins while shared memory is in use keeps its frames instead of a
 * twin). late (hold mode): its crc is not checked here but
 * where it is applied (pc_apply), in the same pass as its copy: a frame
 * over psyncd's segment, whose bytes could change until then. */
psync_err pc_stage_put(psync_client *c, pc_stage *st, const psync_wire_hdr *h, zmq_msg_t *frame,
                       uint64_t max_total, bool late);
/* Forgets the stream being assembled (closes held frames). */
void pc_stage_drop(pc_stage *st);
void pc_stage_free(pc_stage *st);

/* shm.c: the same-host shared-memory path (docs/protocol.md) */
/* SHM_OFFER: maps the inbox and accepts it; declines it (sid 0: chunks
 * keep coming as frames) under no_shm or when it cannot be opened
 * (another host, user or pid namespace: logged). */
void pc_shm_offer(psync_client *c, const psync_wire_hdr *h);
/* MERGED_SHM: checks the chunk's bounds in psyncd's segment and makes
 * *frame point at it (zero-copy: applied and kept from there, its crc
 * checked as it is applied; the caller closes it); on any failure declines
 * shared memory (the daemon then sends frames, the current version first)
 * and returns the error. */
psync_err pc_shm_merged(psync_client *c, const psync_wire_hdr *h, zmq_msg_t *frame);
/* BOOTSTRAP_SHM: the same for a bootstrap chunk, whose bytes lie at h->at
 * of the segment; its crc is checked in the copy into the blob (the
 * stage's), and a mismatch there declines shared memory too (the
 * bootstrap then asks for the blob again, which comes as frames). */
psync_err pc_shm_bootstrap(psync_client *c, const psync_wire_hdr *h, zmq_msg_t *frame);
/* Stops using shared memory and tells the daemon, logging why: it sends
 * frames again, first the current version unless we hold it, and stops a
 * bootstrap it was sending, which psync_client_bootstrap then asks for
 * again (c->boot_again). */
void pc_shm_decline(psync_client *c, const char *why);
/* Writes data's chunks into the inbox (crc in the same pass) and sends
 * SNAPSHOT_SHM headers; PSYNC_ENOTFOUND if shared memory is not in use or
 * the inbox still holds a snapshot psyncd may be merging (one published
 * since the last merged version arrived): send frames. PSYNC_EBUSY if the
 * connection was reset meanwhile. */
psync_err pc_shm_send(psync_client *c, psync_wire_hdr *h, const uint8_t *data, uint64_t len);
/* Unmaps everything; back to frames until the next offer. */
void pc_shm_reset(psync_client *c);

/* apply.c: applying a staged merged version to a model */
/* Applies the complete merged stage to m; *done false (PSYNC_OK) if a
 * chunk over psyncd's segment failed its crc in the copy: shared memory is
 * declined, the stage dropped, and the version comes again as frames (m's
 * merge ranges may hold part of it meanwhile: finite merged values, all
 * replaced when it is applied). PSYNC_EMISMATCH if it is for another
 * layout. */
psync_err pc_apply(psync_client *c, psync_model *m, bool *done);
/* A free()-able buffer of len bytes for a whole payload or blob, 64-byte
 * aligned; past 2 MiB 2 MiB-aligned, asked for huge pages and pre-faulted
 * (first touch of fresh 4 KiB pages ran at 0.35 GB/s here); NULL if out
 * of memory (transfer.c). */
uint8_t *pc_buf_alloc(uint64_t len);

/* kept.c: the last merged payload, kept for recovery without a copy */
/* Takes st's frames (a complete hold or keep stream) as the kept payload
 * [base, base + len) with st's version and layout; st is left empty. */
void pc_kept_take(psync_client *c, pc_stage *st, uint64_t base, uint64_t len);
/* Takes buf (free()-able, ownership moves here) as the kept stream. */
void pc_kept_give(psync_client *c, uint8_t *buf, uint64_t base, uint64_t len, uint64_t version,
                  uint64_t layout);
/* The kept payload as one contiguous buffer (frames are gathered into one
 * the first time: a recovery upload only), valid until the next kept call;
 * NULL if none or out of memory. */
const uint8_t *pc_kept_payload(psync_client *c);
void pc_kept_free(pc_kept *k);

#endif
