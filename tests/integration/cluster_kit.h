/* cluster_kit.h: helpers for whole-cluster tests: start and stop a real
 * psyncd on free 127.0.0.1 ports, build small models, talk raw wire
 * messages (for hostile input) and read the daemon's STATUS document.
 * The kit_expect_* / kit_finish helpers assert (cmocka) instead of returning. */
#ifndef PSYNC_CLUSTER_KIT_H
#define PSYNC_CLUSTER_KIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "psync_client.h"
#include "wire.h"

/* KIT_TSAN is defined in a ThreadSanitizer build: a few timing-bound
 * checks are relaxed there (the instrumented daemon is 5-15x slower). */
#if defined(__SANITIZE_THREAD__)
#define KIT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KIT_TSAN 1
#endif
#endif

typedef struct kit_daemon {
    pid_t pid;
    int port; /* control; bulk is port + 1 (0: ipc:// endpoints) */
    char control[64], bulk[64];
} kit_daemon;

/* Starts psyncd with extra flags (NULL-terminated); 0 on success. */
int kit_daemon_start(kit_daemon *d, const char *const *flags);
/* Starts psyncd on ipc:// endpoints in dir (port 0); 0 on success. */
int kit_daemon_start_ipc(kit_daemon *d, const char *dir, const char *const *flags);
/* Starts psyncd again on d's endpoints (after kit_daemon_stop). */
int kit_daemon_restart(kit_daemon *d, const char *const *flags);
/* Kills a daemon left running by a failed test (cmocka teardown). */
void kit_cleanup(void);
/* SIGTERM and wait; returns the exit status (or -1). */
int kit_daemon_stop(kit_daemon *d);
/* cmocka teardown: kit_cleanup(); always 0. */
int kit_teardown(void **state);
/* Ends a test: destroys the nc clients and nm models (NULL entries are
 * skipped; the arrays' entries are set to NULL), then asserts that d's
 * daemon stops with exit status 0. */
void kit_finish(kit_daemon *d, psync_client **cs, int nc, psync_model **ms, int nm);
/* kit_finish for two clients a, b and their models ma, mb. */
void kit_finish_two(kit_daemon *d, psync_client *a, psync_model *ma, psync_client *b,
                    psync_model *mb);

/* A model: param "w" f32[n] = wv, slot "w/momentum" f32[n] = mv, param
 * "b" f32[3] = wv, buffer "count" i32[2] = {7, 9}; graph x -> dense "fc". */
psync_model *kit_model(uint64_t n, float wv, float mv);
/* Sets every element of tensor name (f32) to v. */
void kit_fill(psync_model *m, const char *name, float v);
/* Max |x - v| over tensor name. */
double kit_maxdiff(const psync_model *m, const char *name, float v);

/* A client connected to d (not yet joined). */
psync_client *kit_client(const kit_daemon *d, const char *name);
/* Polls every client until each applied a version (or timeout); true if all did. */
bool kit_poll_all(psync_client **cs, psync_model **ms, int n, int timeout_ms);
/* Polls c (model m) until it holds version v or ~timeout_ms pass; true if it
 * then holds exactly v (false at once if a poll fails). */
bool kit_poll_version(psync_client *c, psync_model *m, uint64_t v, int timeout_ms);
/* One sync round of a and b with equal samples: "w" = va in ma and vb in
 * mb, both publish, both must apply within timeout_ms a merged "w" within
 * 1e-6 of (va + vb) / 2. True if all of that happened. */
bool kit_round_two(psync_client *a, psync_model *ma, psync_client *b, psync_model *mb, float va,
                   float vb, int timeout_ms);
/* Milliseconds on the monotonic clock. */
uint64_t kit_now_ms(void);

/* Raw DEALER on ep with a fixed routing id (CURVE with the keys of
 * PSYNC_KEY_FILE / PSYNC_SERVER_KEY when the former is set). */
void *kit_raw(void *ctx, const char *ep, const char *rid);
/* Sends frames (hdr bytes, optional payload). */
void kit_raw_send(void *s, const void *hdr, size_t hlen, const void *payload, size_t plen);
void kit_raw_send_hdr(void *s, const psync_wire_hdr *h, const void *payload, size_t plen);
/* Waits up to timeout_ms for a message; decodes its header into h. 0 ok. */
int kit_raw_recv_any(void *s, psync_wire_hdr *h, int timeout_ms);
/* kit_raw_recv_any, skipping SHM_OFFERs (as a peer that ignores shared
 * memory does: psyncd offers it to every member of a sync cluster). */
int kit_raw_recv(void *s, psync_wire_hdr *h, int timeout_ms);
/* Asserts that an ERROR with code (or alt, if not NULL) arrives on s
 * within 3 s; fails the test naming what came instead. */
void kit_expect_error(void *s, const char *code, const char *alt);

/* A raw peer: its own ZeroMQ context and DEALERs on a daemon's control and
 * bulk endpoints (kit_raw; bulk NULL when not asked for). */
typedef struct kit_peer {
    void *ctx, *ctl, *bulk;
} kit_peer;

/* Opens p on d: control with routing id ctl_rid, bulk with bulk_rid
 * (NULL: no bulk socket). */
void kit_peer_open(kit_peer *p, const kit_daemon *d, const char *ctl_rid, const char *bulk_rid);
/* Closes p's sockets and terminates its context. */
void kit_peer_close(kit_peer *p);
/* A HELLO header from a peer holding version held of m's layout. */
void kit_hello_init(psync_wire_hdr *h, const psync_model *m, uint64_t held);
/* Sends hello on p's control socket; 0 once a WELCOME arrived within 3 s
 * (decoded into welcome), -1 if nothing or something else came. */
int kit_peer_hello(kit_peer *p, const psync_wire_hdr *hello, psync_wire_hdr *welcome);

/* STATUS from the daemon: version and one refusal counter (by name). */
int kit_status(const kit_daemon *d, uint64_t *version, const char *reason, uint64_t *count);
/* One top-level uint of the STATUS document (UINT64_MAX if absent). */
int kit_status_u64(const kit_daemon *d, const char *key, uint64_t *value);

/* How many members the STATUS document lists with this "transport"
 * ("shm" or "frames"); 0 on success. */
int kit_status_transport(const kit_daemon *d, const char *transport, uint32_t *count);
/* How many members the STATUS document lists as attached (their bulk
 * connection seen: they take part in sync rounds from then on). */
int kit_status_attached(const kit_daemon *d, uint32_t *count);

/* Makes a fresh key directory from dir (a mkdtemp template, rewritten in
 * place): NAME.key and NAME.pub for each of the n names, and allow/ holding
 * NAME.pub for each name whose bit is set in allow_mask. 0, or -1 on error. */
int kit_keys_make(char *dir, const char *const *names, int n, unsigned allow_mask);
/* Removes a directory made by kit_keys_make (recursively); 0 or -1. */
int kit_keys_remove(const char *dir);

#endif
