/* daemon.h: psyncd's internal types, shared by the files of daemon/ only:
 * settings, refcounted buffers, members with their inbound staging and
 * outbound streams, the merge state and the daemon itself. One event-loop
 * thread owns all of it; ZeroMQ's I/O threads only drop buffer references. */
#ifndef PSYNCD_DAEMON_H
#define PSYNCD_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <zmq.h>

#include "config.h"
#include "log.h"

#include "error.h"
#include "decode_limits.h"
#include "model.h"
#include "security.h"
#include "shm.h"
#include "wire.h"

#define PSD_RID_MAX 64

typedef struct psd psd;
typedef struct psd_member psd_member;
/* Merged buffers: the current version, one in flight to slow members,
 * the next, and one a joiner's bootstrap may still be reading. */
#define PSD_POOL_MAX 4

typedef enum psd_policy { PSD_SYNC = 1, PSD_EASGD, PSD_ASYNC } psd_policy;

/* Refusal reasons, each with a counter (names in refuse.c). */
typedef enum psd_reason {
    PSD_R_MALFORMED = 0, /* header not decodable (format, truncation, limits) */
    PSD_R_VERSION,       /* wrong protocol version */
    PSD_R_TYPE,          /* unknown type, or wrong channel/direction */
    PSD_R_FRAMES,        /* wrong frame count or payload size */
    PSD_R_INCARNATION,   /* stale daemon incarnation */
    PSD_R_MEMBER,        /* unknown member / bulk not attached */
    PSD_R_LAYOUT,        /* layout hash differs */
    PSD_R_CHUNK,         /* chunk offset/total/length/crc inconsistent */
    PSD_R_NONFINITE,     /* NaN or Inf in a snapshot */
    PSD_R_STALE,         /* snapshot for an old version, or too stale */
    PSD_R_STATE,         /* message not expected now (no model yet, upload not asked) */
    PSD_R_FULL,          /* max members reached */
    PSD_R_MODEL,         /* uploaded blob does not decode */
    PSD_R_RATE,          /* over the per-peer control rate: dropped, no reply */
    PSD_R_COUNT_
} psd_reason;

typedef struct psd_settings {
    char bind_control[256];
    char bind_bulk[256];
    psd_policy policy;
    int64_t heartbeat_ms, member_timeout_ms, round_deadline_ms, grace_ms;
    double alpha;
    uint64_t max_staleness;
    uint64_t chunk_bytes;
    uint64_t max_message_bytes;
    uint64_t max_model_bytes;
    uint32_t max_members;
    uint32_t easgd_every;
    uint32_t async_members;       /* async: N of the weight (0: largest membership seen) */
    int64_t recovery_window_ms;   /* no model: wait this long after the first hello */
    uint32_t expected_members;    /* ... or until this many said hello (0: window only) */
    uint32_t quorum;              /* workers needed to merge / to promote (0: off) */
    char standby_of[256];         /* primary's control endpoint: run as its standby */
    char standby_bulk[256];       /* primary's bulk endpoint ("": derived, protocol/address.h) */
    char standby_server_key[512]; /* primary's public key for a CURVE watch */
    int64_t standby_silence_ms;   /* promote after the primary is silent this long */
    bool merge_slots;
    bool shm; /* offer same-host members shared memory (sync) */
    /* security (sockets.c) and hard limits (docs/security.md) */
    char key_file[512], allow_list[512];
    bool insecure_plain;
    uint64_t max_control_bytes;      /* ZMQ_MAXMSGSIZE of the control socket */
    uint32_t rate_per_s, rate_burst; /* control messages per routing id */
    psync_limits blob_limits;        /* applied to an uploaded model */
} psd_settings;

/* A 64-byte-aligned buffer shared with ZeroMQ zero-copy frames. Each frame
 * holds one reference, dropped by a ZeroMQ I/O thread when sent. */
typedef struct psd_rcbuf {
    atomic_int refs;
    uint64_t len;
    uint64_t version; /* what it currently holds */
    uint32_t *crc;    /* per-chunk crc32, computed once per content */
    uint32_t n_crc;
    uint32_t n_known; /* a bootstrap head: crc[0, n_known) are known (those
                       * of the chunks past it are filled as they are sent) */
    uint8_t *data;
    psync_shm shm; /* data lives here when shared with same-host members */
} psd_rcbuf;

/* One member's snapshot (or model upload) being received: the payload
 * frames are kept as received (no copy) until the whole stream is in. */
typedef struct psd_inbound {
    uint64_t gen; /* bumped by every psd_inbound_begin */
    uint64_t total, n_chunks, received;
    uint64_t base, samples, layout; /* of the snapshot being received */
    uint64_t gstep, seen, ostep;    /* the sender's training state */
    bool complete;
    zmq_msg_t *chunks; /* n_chunks frames, valid where have[i] */
    bool *have;
    uint32_t *crc; /* per chunk: the crc its header declared */
    bool *late;    /* per chunk: crc and finiteness checked as it is merged
                    * (a shared inbox chunk: one read of it, and of what is
                    * merged), not when it came (a frame: immutable) */
} psd_inbound;

/* A chunked transfer of a buffer to one member on the bulk socket. A
 * bootstrap blob streams from two buffers: head holds its first bytes (the
 * chunks that hold any of the blob's header, encoded per version) and the
 * crcs of all its chunks, buf the merged payload those bytes are followed
 * by, at stream offset shift (no copy). */
typedef struct psd_stream {
    psd_rcbuf *buf;  /* referenced while active; NULL when idle */
    psd_rcbuf *head; /* referenced while active, or NULL: buf is all of it */
    uint64_t shift;  /* with head: stream offset of buf's byte 0 */
    psync_msg_type type;
    uint64_t version, layout, next, total;
    uint64_t limit; /* bytes ready to send (< total while a merge streams) */
} psd_stream;

/* A sync round merged chunk by chunk as soon as every participant's copy
 * of a chunk is in (round.c); its MERGED chunks go out as they are ready. */
typedef struct psd_round {
    bool active;
    uint32_t n;
    uint64_t *ids, *gens, *samples; /* per participant, max_members long */
    float *w;
    psd_member **who;
    psd_rcbuf *out;
    uint8_t *done; /* per chunk */
    uint64_t n_done, prefix, version, t0_us;
} psd_round;

struct psd_member {
    uint64_t id;
    uint8_t rid[PSD_RID_MAX];
    size_t rid_len;
    char name[64];
    int64_t rank;
    bool attached;                          /* bulk connection seen */
    bool follower;                          /* a standby psyncd: gets merged, never merges */
    uint64_t held;                          /* merged version the member reports holding */
    uint64_t held_inc, layout, model_bytes; /* from its hello */
    uint64_t joined_ms, last_seen_ms, last_publish_ms;
    uint64_t stall_report_ms; /* next silence to report (0: not stalled) */
    uint64_t samples, snapshots, bytes_in, bytes_out;
    uint64_t errors_sent, err_window_ms;
    uint32_t err_count;
    psd_inbound in;
    psd_stream merged, boot;
    psync_shm inbox;    /* same-host member: its snapshots land here (shm.c) */
    bool shm;           /* it accepted the inbox: chunks go as *_shm messages */
    bool shm_declined;  /* it gave shared memory up, or is elsewhere: not offered again */
    bool boot_deferred; /* it asked for a bootstrap while its offer was unanswered */
};

/* A standby's follow of its primary (follow.c): its membership there and
 * the merged or bootstrap stream being received, frames held until whole. */
typedef struct psd_follow {
    void *bulk; /* DEALER to the primary's bulk socket */
    char bulk_ep[256];
    uint8_t rid[16];          /* one routing id on both watch sockets */
    uint64_t m, inc;          /* member id and primary incarnation; 0: not welcomed */
    uint64_t chunk_bytes;     /* the primary's, from welcome */
    psync_msg_type type;      /* stream being received: MERGED or BOOTSTRAP */
    uint64_t version, layout; /* of that stream */
    psd_inbound in;
    uint64_t versions, refused; /* versions installed, chunks or streams refused */
} psd_follow;

/* The model upload in progress (first daemon start). */
typedef struct psd_upload {
    uint64_t member; /* member asked to upload, 0 = none */
    uint64_t total, received, layout;
    uint8_t *buf;
    bool *have;
    uint64_t n_chunks;
} psd_upload;

typedef struct psd_timer {
    uint64_t due_ms;
    uint64_t every_ms;
    void (*fn)(psd *d);
} psd_timer;

struct psd {
    psd_settings set;
    void *ctx, *control, *bulk;
    psync_security *sec;   /* CURVE + ZAP, or explicit plain */
    struct psd_rate *rate; /* control-socket token buckets */
    uint64_t inc;
    /* members, sorted by id (so merges sum in member-id order) */
    psd_member **members;
    uint32_t n_members;
    uint64_t next_id;
    /* model */
    psync_model *tmpl; /* graph, tensor table, optimizer, state */
    uint64_t layout, payload_len, n_chunks;
    psync_wire_range *ranges;
    uint32_t n_ranges;
    psd_rcbuf *pool[PSD_POOL_MAX];
    psd_rcbuf *cur; /* current merged payload (NULL: no model) */
    uint64_t version;
    uint64_t round_start_ms; /* sync: when the current round opened */
    uint64_t burned;         /* highest version number used by an aborted round */
    psd_round round;
    uint32_t easgd_pending; /* easgd: snapshots since the last broadcast */
    bool merge_deferred;    /* a merge waits for a free pool buffer */
    psd_upload upload;
    psd_rcbuf *boot;            /* cached bootstrap head (psd_stream) */
    const psd_rcbuf *boot_from; /* the merged buffer it was built from */
    uint64_t boot_shift;        /* blob offset of the payload's first byte */
    uint64_t recover_until_ms;  /* end of the collection window (0: not opened) */
    uint32_t peak_members;      /* largest attached membership seen (async weight) */
    uint64_t samples_total;     /* samples of every complete snapshot since start */
    /* lineage epoch and standby (standby.c, docs/recovery.md) */
    uint64_t epoch;            /* 1, or a promoted standby's primary epoch + 1 */
    bool standby, fenced;      /* not serving yet / a higher epoch exists: exit */
    void *watch;               /* standby: DEALER to the primary's control */
    psync_security *watch_sec; /* standby: the watch connection's CURVE or plain */
    uint64_t primary_epoch, primary_version, primary_seen_ms;
    struct psd_knock { /* standby: workers that asked for service (quorum) */
        uint8_t rid[PSD_RID_MAX];
        size_t len;
        uint64_t ms;
    } knocks[64];
    bool quorum_lost;     /* merging paused: fewer than quorum workers attached */
    psd_follow follow;    /* standby: the copy of the primary's merged model */
    uint64_t version_inc; /* incarnation that merged the current version: with
                             the version number it names the content */
    /* counters */
    uint64_t refused[PSD_R_COUNT_];
    uint64_t merges, snapshots_in, bytes_in, bytes_out;
    uint64_t shm_bytes_in, shm_bytes_out; /* of bytes_in/out: through shared memory */
    uint64_t last_merge_us;
    /* loop */
    psd_timer timers[4];
    unsigned n_timers;
    uint64_t log_window_ms;
    uint32_t log_count;
    volatile int stopping; /* set by the signal handler */
};

/* --- settings.c: the settings table of psyncd --- */
/* Loads defaults < file < PSYNC_* env < flags into s; *cfg (owned by the
 * caller) keeps sources for --print-config. PSYNC_ECONFIG with a detail. */
psync_err psd_settings_load(psd_settings *s, int argc, char **argv, psync_config **cfg);
/* Prints --help for psyncd to out. */
void psd_settings_help(FILE *out);
const char *psd_policy_name(psd_policy p);

/* --- sockets.c: the ZeroMQ context and the two ROUTER sockets --- */
/* Tunes malloc, creates the context (2 I/O threads) and its security
 * (CURVE + ZAP allow-list from key_file / allow_list, else plain: refused
 * for a non-loopback endpoint unless insecure_plain) and binds control and
 * bulk with every option set in one place. PSYNC_EIO naming the endpoint,
 * PSYNC_ECONFIG for a security setting (detail says what to give). */
psync_err psd_sockets_open(psd *d);
/* Closes the sockets (linger_ms for queued data), stops the ZAP handler
 * and terminates the context. */
void psd_sockets_close(psd *d, int linger_ms);

/* --- ratelimit.c: token buckets per routing id on the control socket --- */
/* A table of buckets (rate_per_s, rate_burst of d->set). PSYNC_ENOMEM. */
psync_err psd_rate_new(psd *d);
void psd_rate_destroy(psd *d);
/* Takes one token for rid; false (counted as PSD_R_RATE, logged
 * rate-limited) when the peer is over its rate: drop the message. */
bool psd_rate_admit(psd *d, const uint8_t *rid, size_t len);

/* --- rcbuf.c: refcounted buffers shared with zero-copy frames --- */
/* New buffer of len bytes (64-byte aligned) with one reference and room for
 * n_chunks crcs; with shared, in a sealed memfd same-host members map
 * (falls back to private memory, logged, if that fails). PSYNC_ENOMEM. */
psync_err psd_rcbuf_new(uint64_t len, uint64_t n_chunks, bool shared, psd_rcbuf **out);
void psd_rcbuf_ref(psd_rcbuf *b);
/* Drops one reference; frees at zero. Safe from any thread; NULL ok. */
void psd_rcbuf_unref(psd_rcbuf *b);
/* Recomputes the per-chunk crcs of the buffer's first len bytes. */
void psd_rcbuf_crcs(psd_rcbuf *b, uint64_t len, uint64_t chunk_bytes);
/* A zero-copy frame over b->data[off, off+len) holding one reference. */
psync_err psd_rcbuf_frame(psd_rcbuf *b, uint64_t off, uint64_t len, zmq_msg_t *msg);

/* --- loop.c: clock, timers and the poll loop --- */
uint64_t psd_now_ms(void);
uint64_t psd_now_us(void);
/* Runs every every_ms from now. At most 4 timers. */
void psd_loop_timer(psd *d, uint64_t every_ms, void (*fn)(psd *d));
/* Polls both sockets and runs timers until d->stopping, then drains
 * outbound streams for at most grace_ms. Returns PSYNC_OK or PSYNC_EIO. */
psync_err psd_loop_run(psd *d);

/* --- refuse.c: refusing a message: error reply, log line, counter --- */
const char *psd_reason_name(psd_reason r);
/* true if one more refusal log line fits this second's budget (20/s). */
bool psd_log_budget(psd *d);
/* Counts r, logs it (rate-limited) and replies ERROR (err, detail from
 * psync_errdetail()) to rid on sock (rate-limited per member). */
void psd_refuse(psd *d, void *sock, const uint8_t *rid, size_t rid_len, psd_reason r, psync_err err,
                const char *ref);

/* --- members.c: membership, heartbeats, timeouts --- */
psd_member *psd_member_by_rid(psd *d, const uint8_t *rid, size_t len);
psd_member *psd_member_by_id(psd *d, uint64_t id);
/* Adds a member for rid (or returns the existing one). PSYNC_ELIMIT when
 * max_members are live, PSYNC_ENOMEM. */
psync_err psd_member_join(psd *d, const uint8_t *rid, size_t len, psd_member **out);
/* Removes m (frees staging, stops streams, re-evaluates the round). */
void psd_member_drop(psd *d, psd_member *m, const char *why);
/* Timer: drops members silent for member_timeout_ms; logs stalls. */
void psd_members_tick(psd *d);
/* Attached members that take part in merges (followers do not). */
uint32_t psd_members_attached(const psd *d);
/* true if m takes part in merges: attached and not a follower. */
bool psd_member_merges(const psd_member *m);
/* true if m already holds the current version (same number, merged by the
 * same incarnation): it needs no merged stream and keeps its own progress. */
bool psd_member_current(const psd *d, const psd_member *m);

/* --- inbound.c: receiving a chunked stream into held frames --- */
void psd_inbound_clear(psd_inbound *in);
/* psd_inbound_clear, then frees its arrays (in is zeroed). */
void psd_inbound_free(psd_inbound *in);
/* Prepares in for a stream of total bytes in n_chunks (reuses arrays). */
psync_err psd_inbound_begin(psd_inbound *in, uint64_t total, uint64_t n_chunks);
/* Keeps frame (moved in) as chunk idx with the crc its header declared,
 * checked later (late) or already; returns true when all are in. */
bool psd_inbound_put(psd_inbound *in, uint64_t idx, zmq_msg_t *frame, uint32_t crc, bool late);
/* Pointer to the data of chunk idx. */
const uint8_t *psd_inbound_chunk(const psd_inbound *in, uint64_t idx);

/* --- kernels.c: f32 merge loops (vectorised, restrict) --- */
/* A float that may sit at any address: ZeroMQ delivers frames at arbitrary
 * offsets of its receive buffer, so snapshot data is read through this. */
typedef float psd_f32u __attribute__((aligned(1)));
void psd_k_scale(float *restrict d, const psd_f32u *restrict x, float a, uint64_t n);
void psd_k_axpy(float *restrict d, const psd_f32u *restrict x, float a, uint64_t n);
void psd_k_lerp(float *restrict d, const float *restrict c, const psd_f32u *restrict x, float a,
                uint64_t n);
/* true if every float of x[0..n) is finite (x at any address). */
bool psd_k_finite(const void *x, uint64_t n);

/* --- merge.c: the policies --- */
/* Counts m's just-completed snapshot in its statistics. */
void psd_merge_count(psd *d, psd_member *m);
/* Averages chunk k of the n members' snapshots (weights w) into out,
 * checking in the same pass the crc of every input if any of them came
 * late (a shared inbox chunk, unchecked so far); false if the result holds
 * NaN or Inf (so did an input) or an input's bytes do not match its
 * declared crc (a shared inbox written wrong, or rewritten after its
 * header): then out's chunk k is not usable. */
bool psd_merge_average_chunk(psd *d, uint64_t k, psd_member **who, const float *w, uint32_t n,
                             psd_rcbuf *out);
/* After a failed average of chunk k: refuses (counted, answered) and
 * clears the snapshot of each of the n members whose chunk k, checked
 * late, no longer matches its crc (bad_chunk) or holds NaN or Inf in the
 * merge ranges (nonfinite); true if it found one. */
bool psd_merge_blame(psd *d, uint64_t k, psd_member **who, uint32_t n);
/* Sample weights of the n members' held snapshots (equal if no samples). */
void psd_merge_weights(psd_member **who, uint32_t n, float *w);
/* true if enough workers are attached to merge (settings quorum); logs
 * when merging pauses or resumes because of it. */
bool psd_merge_quorum(psd *d);
/* The number the next merged version gets (skips aborted rounds). */
uint64_t psd_merge_next_version(const psd *d);
/* Makes out the current version (crcs unless done, counters). */
void psd_merge_commit(psd *d, psd_rcbuf *out, uint64_t t0_us, bool crcs_done);
/* Re-evaluates the sync round (member left, deadline, buffer freed). */
void psd_merge_poll(psd *d);
/* Timer: round deadline and deferred merges. */
void psd_merge_tick(psd *d);
/* Checks a snapshot header against the policy before taking its chunks
 * (staleness, base); PSYNC_ESTALE / PSYNC_EPROTO with a detail. */
psync_err psd_merge_admit(psd *d, const psync_wire_hdr *h, psd_reason *why);
/* A free pool buffer holding the current merged bytes outside the merge
 * ranges, or NULL if all are in flight. */
psd_rcbuf *psd_merge_acquire(psd *d);
/* Checks chunk k (len bytes at data): crc32 equals crc (PSYNC_EPROTO) and
 * every float of the merge ranges in it is finite (PSYNC_ENONFINITE). */
psync_err psd_merge_chunk_verify(psd *d, uint64_t k, const uint8_t *data, uint64_t len,
                                 uint32_t crc);

/* --- round.c: the streaming sync round --- */
/* Chunk k of m's snapshot is held: merge it if every participant has it. */
void psd_round_chunk(psd *d, psd_member *m, uint64_t k);
/* Aborts the round if a participant left, restarted or the deadline passed. */
void psd_round_check(psd *d);

/* --- stream.c: chunked sends to members --- */
/* Starts sending buf to m (replacing an older transfer of the same kind:
 * latest version wins). Takes a reference on buf. */
void psd_stream_start(psd_stream *s, psd_rcbuf *buf, psync_msg_type type, uint64_t version,
                      uint64_t layout, uint64_t total);
/* Starts a bootstrap stream of total bytes: head->len bytes of head, then
 * buf's bytes from head->len - shift on (takes a reference to each). */
void psd_stream_start_blob(psd_stream *s, psd_rcbuf *head, psd_rcbuf *buf, uint64_t shift,
                           uint64_t version, uint64_t layout, uint64_t total);
void psd_stream_stop(psd_stream *s);
/* Lets every member's transfer of buf send up to limit bytes. */
void psd_streams_limit(psd *d, const psd_rcbuf *buf, uint64_t limit);
/* Stops every member's transfer of buf. */
void psd_streams_cancel(psd *d, const psd_rcbuf *buf);
/* Sends as many chunks as the peers' queues take; true if any is pending. */
bool psd_streams_pump(psd *d);
/* Sends the current merged version to every attached member. */
void psd_broadcast_merged(psd *d);

/* --- peer.c --- */
/* true if a ZeroMQ Peer-Address names this host: "localhost:..." (ipc://),
 * a loopback address, v4-mapped too, or one of this host's own (its
 * interfaces in psyncd's network namespace); also for NULL (not told) or
 * a form it cannot parse (then the segment id check decides). */
bool psd_peer_address_local(const char *peer_address);
/* psd_peer_address_local of the Peer-Address frame came with; addr gets it
 * (cap bytes, "unknown" if none), for the log. */
bool psd_peer_on_host(const zmq_msg_t *frame, char *addr, size_t cap);

/* --- shm.c: the same-host shared-memory path (docs/protocol.md) --- */
/* true if merged buffers go in shared memory: --shm on and the sync policy
 * (whose rounds never rewrite a buffer a participant still reads). */
bool psd_shm_wanted(const psd *d);
/* Offers m an inbox if it has none and psd_shm_wanted (a worker with the
 * cluster's layout, or with no model yet: a joiner, so that its bootstrap
 * can come through shared memory), and frame (its latest) came from this host
 * (psd_peer_on_host; if not, m is never offered one); a failure is logged
 * and m stays on frames. */
void psd_shm_offer(psd *d, psd_member *m, const zmq_msg_t *frame);
/* SHM_ACCEPT from m: it uses its inbox (sid matches), or declines (0: back
 * to frames, and the current version again if it missed it). A bootstrap
 * it asked for meanwhile (psd_shm_pending) is served now, either way. */
void psd_shm_accept(psd *d, psd_member *m, const psync_wire_hdr *h);
/* SNAPSHOT_SHM from m: makes *frame point at the chunk in m's inbox (no
 * copy), to be handled as a SNAPSHOT chunk whose header gets every check
 * of a socket chunk's (layout, staleness, bounds) and whose bytes are
 * checked (crc, finiteness) as they are merged: m could rewrite them until
 * then, and psyncd reads them once (psd_merge_average_chunk). false if
 * refused (counted, answered): m has no inbox or the chunk lies outside
 * it. */
bool psd_shm_snapshot_frame(psd *d, psd_member *m, const psync_wire_hdr *h, zmq_msg_t *frame);
/* true if m was offered an inbox and has not answered yet. */
bool psd_shm_pending(const psd_member *m);
/* Sends the len-byte chunk whose bytes lie at off of buf to m as a header
 * only (h: its MERGED or BOOTSTRAP header; MERGED_SHM, or BOOTSTRAP_SHM
 * with `at` = off) when m and buf share memory: PSYNC_OK sent, PSYNC_EBUSY
 * queue full, PSYNC_ENOTFOUND not applicable (send a frame). */
psync_err psd_shm_send_chunk(psd *d, psd_member *m, const psync_wire_hdr *h, psd_rcbuf *buf,
                             uint64_t off, uint64_t len);
/* Frees m's inbox. */
void psd_shm_release(psd_member *m);

/* --- bootstrap.c: the template model, uploads and bootstraps --- */
/* Handles a MODEL chunk from m (hdr decoded, frame the payload). */
void psd_upload_chunk(psd *d, psd_member *m, const psync_wire_hdr *h, zmq_msg_t *frame);
/* Forgets the upload (uploader left); asks another member if one has a model. */
void psd_upload_abort(psd *d, const char *why);
/* Starts a BOOTSTRAP stream of the current model to m. */
psync_err psd_bootstrap_serve(psd *d, psd_member *m);

/* Decodes a whole blob a peer sent (len bytes at *buf, 64-aligned) with
 * the daemon's limits and checks that its layout hash equals layout (the
 * sender's header) and the cluster's, and that params and slots are
 * finite. On success *out owns the model and *buf is NULL (the model took
 * it); on failure *buf is still the caller's, *why says which counter. */
psync_err psd_model_decode(psd *d, uint8_t **buf, uint64_t len, uint64_t layout, const char *what,
                           psync_model **out, psd_reason *why);

/* Installs model (taken) as the template and merged version `version`;
 * with a template of the same layout already installed, replaces it (a
 * newer version restored from a member). PSYNC_EFORMAT, PSYNC_EBUSY (no
 * free buffer or a sync round streaming: retry later), PSYNC_ENOMEM. */
psync_err psd_model_install(psd *d, psync_model *model, uint64_t version);

/* --- recover.c: restoring the merged model from members' memory --- */
/* The action for a member that said hello while the daemon has no model:
 * "wait" during the collection window (opened by the first hello), then
 * "upload" for the member holding the newest merged version. */
const char *psd_recover_hello(psd *d, psd_member *m);
/* With a model: true (and the member is asked to upload) if m holds a
 * newer merged version of the same layout than the daemon's. */
bool psd_recover_newer(psd *d, psd_member *m);
/* Timer: closes the collection window and asks the newest holder. */
void psd_recover_tick(psd *d);
/* Keeps the template's training state current from a complete snapshot. */
void psd_recover_note(psd *d, const psd_inbound *in);
/* Advances the template's global step, samples seen and optimizer step to
 * in's where they are larger (never backwards). */
void psd_state_advance(psd *d, const psd_inbound *in);

/* --- standby.c: hot standby of another psyncd, epochs, fencing --- */
/* Sets the epoch (1) or, with standby_of, opens the watch socket and
 * starts as a standby. PSYNC_EIO naming the endpoint. */
psync_err psd_standby_open(psd *d);
void psd_standby_close(psd *d);
/* Timer: asks the primary for its status, follows it; promotes after its
 * silence. */
void psd_standby_tick(psd *d);
/* Reads the primary's control replies (status, welcome, acks, errors). */
void psd_standby_readable(psd *d);
/* Hello (worker) or follow from a peer: false (refused, answered) if this
 * daemon is a standby or the peer has seen a higher epoch (then it fences
 * itself: refuses everyone and stops). A standby whose primary is silent
 * promotes itself here when this worker's hello completes the quorum
 * (settings quorum: distinct workers within the member timeout). */
bool psd_standby_admit(psd *d, const uint8_t *rid, size_t rid_len, uint64_t epoch, bool worker);

/* --- follow.c: the standby's copy of the primary's merged model --- */
/* Opens the bulk DEALER to the primary (d->watch gets the same routing id:
 * call before connecting it). PSYNC_EIO / PSYNC_ECONFIG naming the endpoint. */
psync_err psd_follow_open(psd *d);
void psd_follow_close(psd *d);
/* Timer (standby): FOLLOW until welcomed, then HEARTBEAT with our version. */
void psd_follow_tick(psd *d);
/* A control message from the primary (header decoded): welcome,
 * heartbeat_ack, announce, error. Follows again on a new incarnation. */
void psd_follow_control(psd *d, const psync_wire_hdr *h);
/* Reads the primary's bulk socket: BOOTSTRAP and MERGED chunks, checked;
 * a complete stream becomes this daemon's model / current version. */
void psd_follow_bulk_readable(psd *d);

/* --- control.c / bulk.c: message dispatch per socket --- */
void psd_control_readable(psd *d);
void psd_bulk_readable(psd *d);
/* Sends WELCOME to m with the given action. */
void psd_control_welcome(psd *d, psd_member *m, const char *action);
/* Sends ANNOUNCE to every member. */
void psd_control_announce(psd *d);

/* --- status.c: the STATUS document --- */
void psd_status_reply(psd *d, const uint8_t *rid, size_t rid_len);

#endif
