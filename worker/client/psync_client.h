/* psync_client.h: the client library a trainer links to take part in a
 * psync cluster: join (hello/welcome), get the model (bootstrap) or give it
 * (upload), publish snapshots of its weights and apply merged versions.
 *
 * Threads: a client is used by ONE thread (the trainer's); it starts no
 * thread of its own except ZeroMQ's I/O threads. Heartbeats are sent from
 * psync_client_poll (and from the blocking calls), so call poll at least
 * every heartbeat interval (default 1 s), e.g. once per training step with
 * timeout 0. Heartbeats travel on the control connection, never behind a
 * bulk transfer.
 *
 * Typical loop (see worker/client/example/psync_client_example.c):
 *   psync_client_new(&c, NULL);                  // PSYNC_ADDR, MASTER_ADDR...
 *   psync_client_join(c, &model, 60000);         // upload or bootstrap as asked
 *   for (;;) { train_steps(model); n += samples;
 *              psync_client_publish(c, model, n); n = 0;
 *              psync_client_poll(c, model, wait_ms, &applied); } */
#ifndef PSYNC_CLIENT_H
#define PSYNC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct psync_client psync_client;

typedef struct psync_client_opts {
    const char *control; /* "tcp://host:5555"; NULL: from the environment.
                          * "A,B" (up to 4): a primary and its standbys;
                          * the client fails over to the next when the
                          * current one is silent for the member timeout,
                          * is a standby or fenced (docs/recovery.md) */
    const char *bulk;    /* NULL: control's port + 1 (ipc://P -> ipc://P.bulk) */
    const char *name;    /* NULL: "hostname:pid" */
    int rank;            /* -1: from RANK or SLURM_PROCID, else -1 */
    /* Security (docs/security.md). NULL: PSYNC_KEY_FILE / PSYNC_SERVER_KEY.
     * With both, every socket uses CURVE; without, plain, which is refused
     * for a non-loopback daemon unless insecure_plain (or
     * PSYNC_INSECURE_PLAIN=1). */
    const char *key_file;   /* our key pair file (psync keygen NAME) */
    const char *server_key; /* psyncd's public key: 40 Z85 chars or a .pub file */
    bool insecure_plain;
    bool retry_auth; /* refused (wrong key, not allow-listed): keep
                      * retrying until the timeout instead of failing */
    bool no_shm;     /* never take a same-host daemon's shared-memory offer
                      * (also PSYNC_SHM=0): chunks always travel as frames */
} psync_client_opts;

/* What the daemon asked for in its welcome. */
typedef enum psync_client_action {
    PSYNC_CLIENT_TRAIN = 1, /* keep training this model */
    PSYNC_CLIENT_UPLOAD,    /* the daemon has no model: upload ours */
    PSYNC_CLIENT_BOOTSTRAP, /* fetch the cluster's model */
    PSYNC_CLIENT_WAIT,      /* no model anywhere yet: wait, then bootstrap */
} psync_client_action;

/* Endpoints from opts, else PSYNC_ADDR ("tcp://h:p" or "h:p"; bulk from
 * PSYNC_BULK_ADDR or port + 1), else MASTER_ADDR with MASTER_PORT (default
 * 5555), else tcp://127.0.0.1:5555. Creates the ZeroMQ context (after
 * tuning malloc, process-wide, see docs/api.md) and connects both sockets;
 * nothing is sent yet. *out owned by the caller (psync_client_destroy).
 * PSYNC_ECONFIG for a bad endpoint or security setting (plain to a
 * non-loopback daemon, only one of key_file/server_key), key file errors
 * (keys.h), PSYNC_EIO, PSYNC_ENOMEM. */
psync_err psync_client_new(psync_client **out, const psync_client_opts *opts);

/* Resolves the control and bulk endpoints as psync_client_new does (opts
 * may be NULL) into control[cap] and bulk[cap]. PSYNC_ECONFIG. */
psync_err psync_client_endpoints(const psync_client_opts *opts, char *control, char *bulk,
                                 size_t cap);

/* Sends leave (best effort), closes the sockets and frees the client.
 * Accepts NULL; sets *c to NULL. */
void psync_client_destroy(psync_client **c);

/* Says hello and waits for the welcome, resending with backoff (0.25 s
 * doubling to 5 s) and logging what it waits for. model (may be NULL) is
 * the model this process already has: its layout hash and merge version
 * are announced. timeout_ms < 0: forever. PSYNC_ETIMEOUT, PSYNC_EAUTH as
 * soon as the daemon refuses our handshake (unless opts.retry_auth), or
 * the daemon's refusal (e.g. PSYNC_ELIMIT when the cluster is full). */
psync_err psync_client_connect(psync_client *c, const psync_model *model, int timeout_ms);

/* The action of the last welcome (valid after connect). */
psync_client_action psync_client_action_get(const psync_client *c);

/* Uploads m's blob (when the action is UPLOAD) and waits for the daemon to
 * announce it. m is only read. PSYNC_ETIMEOUT, or the daemon's refusal
 * (PSYNC_EMISMATCH, PSYNC_ENONFINITE...) with its detail. */
psync_err psync_client_upload_model(psync_client *c, const psync_model *m, int timeout_ms);

/* Waits for a model to exist (announce) if needed, asks for it and
 * receives the whole blob; *out is a new model owning the blob (decoded
 * zero-copy with PSYNC_DECODE_TAKE). PSYNC_ETIMEOUT, decode errors. */
psync_err psync_client_bootstrap(psync_client *c, psync_model **out, int timeout_ms);

/* connect + upload or bootstrap as the daemon asks. *model may be NULL
 * (then it is set) or the process's own model (replaced, the old one
 * destroyed, if the daemon's layout differs). */
psync_err psync_client_join(psync_client *c, psync_model **model, int timeout_ms);

/* Publishes m's payload arena as a snapshot trained from the held merged
 * version with `samples` samples since then. The trainer may modify the
 * arena as soon as this returns: under sync it is sent zero-copy and this
 * returns once ZeroMQ has released it (PSYNC_EBUSY, after a reconnect, if
 * the daemon took nothing for the member timeout); under the other
 * policies it is copied while sending. Under any policy PSYNC_EBUSY if the
 * connection was reset (reconnect, failover) while sending: the snapshot
 * was dropped, publish again. Sync policy: PSYNC_ESTALE (nothing
 * sent) if a newer merged version must be applied first. PSYNC_EMISMATCH
 * if m's layout is not the cluster's. */
psync_err psync_client_publish(psync_client *c, const psync_model *m, uint64_t samples);

/* Sends a due heartbeat, handles everything that arrived for up to
 * timeout_ms (0: just drain), and applies a complete, verified merged
 * version to m (sync/async: replace params (and slots if the daemon merges
 * them); easgd: w -= alpha (w - centre)). *applied (may be NULL) tells
 * whether a version was applied; returns as soon as one is. Rejoins by
 * itself if the daemon restarted or dropped us; if a restarted daemon asks
 * for the model, uploads m (blocking up to the member timeout). m may be
 * NULL (nothing is applied; the version stays staged). */
psync_err psync_client_poll(psync_client *c, psync_model *m, int timeout_ms, bool *applied);

/* Merged version last applied (0: none) and the daemon's latest known. */
uint64_t psync_client_held_version(const psync_client *c);
uint64_t psync_client_daemon_version(const psync_client *c);
/* Policy name from the welcome ("sync", "easgd", "async"; "" before). */
const char *psync_client_policy(const psync_client *c);
/* Member id assigned by the daemon (0 before the welcome). */
uint64_t psync_client_member_id(const psync_client *c);
/* Incarnation of the daemon that last welcomed us (0 before); it changes
 * when the daemon restarted and we rejoined. */
uint64_t psync_client_incarnation(const psync_client *c);
/* true while the daemon is unreachable or restarted and we are saying
 * hello again (with backoff, 250 ms doubling to 5 s): keep training,
 * publish is refused with PSYNC_EBUSY until the welcome. */
bool psync_client_rejoining(const psync_client *c);
/* Last error the daemon sent us (PSYNC_OK if none) and its detail. */
psync_err psync_client_last_error(const psync_client *c, const char **detail);

#endif
