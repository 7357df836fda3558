/* security.h: psync's transport security on ZeroMQ: CURVE encryption, a ZAP
 * handler that admits only allow-listed client keys (domain "psync",
 * enforced, so a dead handler fails closed), an explicit logged "plain"
 * mode, the loopback rule and a client-side handshake watcher.
 *
 * Integration (server, e.g. psyncd; one object per ZeroMQ context, created
 * before any server socket binds, destroyed after they close):
 *
 *     psync_security *sec;
 *     err = psync_security_server_from_files(&sec, ctx, "psyncd.key", "workers/");
 *     ...                                   // or psync_security_plain_new(&sec, 0)
 *     void *s = zmq_socket(ctx, ZMQ_ROUTER);
 *     err = psync_security_apply(sec, s, endpoint);   // before zmq_bind
 *     zmq_bind(s, endpoint);
 *     // a received frame names its sender's key: zmq_msg_gets(&m, "User-Id")
 *     ...
 *     zmq_close(s);
 *     psync_security_destroy(&sec);                   // before zmq_ctx_term
 *
 * Integration (client, e.g. a worker):
 *
 *     err = psync_security_client_from_files(&sec, "worker3.key", "psyncd.pub");
 *     void *s = zmq_socket(ctx, ZMQ_DEALER);
 *     err = psync_security_apply(sec, s, endpoint);   // before connecting
 *     err = psync_security_watch_handshake(ctx, s, endpoint, 3000);
 *     // replaces zmq_connect: PSYNC_OK connected; PSYNC_EAUTH refused (wrong
 *     // server key, or our key not allow-listed): give up, say so;
 *     // PSYNC_ETIMEOUT: nobody answered yet, socket stays connected and
 *     // libzmq keeps retrying (use psync_handshake_watch_* to wait again).
 *
 * Rule: an endpoint that is not loopback (psync_security_required) gets
 * CURVE; plain mode refuses such an endpoint unless created allow_remote. */
#ifndef PSYNC_SECURITY_H
#define PSYNC_SECURITY_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "keys.h"

#define PSYNC_ZAP_DOMAIN "psync"

typedef struct psync_security psync_security;

typedef struct psync_security_counts {
    uint64_t accepted; /* ZAP requests answered 200 */
    uint64_t denied;   /* ZAP requests answered 400 (or 500 when malformed) */
} psync_security_counts;

/* True unless endpoint is loopback-only: ipc://, inproc://, tcp:// to
 * 127.0.0.0/8, [::1] (or IPv4-mapped 127/8) or localhost. Wildcards
 * ("tcp://" + "*:N"), interface names, source-address forms and other transports
 * are "required". NULL is required. */
bool psync_security_required(const char *endpoint);

/* Creates a server-side object: own key pair (copied) and allow-list (taken
 * over, on success and on failure), and starts its ZAP handler thread on
 * zmq_ctx. PSYNC_EBUSY if the context already has a ZAP handler;
 * PSYNC_ECONFIG if libzmq cannot enforce the ZAP domain. */
psync_err psync_security_server_new(psync_security **out, void *zmq_ctx, const psync_keypair *own,
                                    psync_allowlist *allow);

/* psync_security_server_new with the key pair file key_file (0600) and the
 * allow-list at allow_path (directory of *.pub or list file). */
psync_err psync_security_server_from_files(psync_security **out, void *zmq_ctx,
                                           const char *key_file, const char *allow_path);

/* Creates a client-side object: own key pair (copied) and the server's
 * public key (Z85, checked). No thread. */
psync_err psync_security_client_new(psync_security **out, const psync_keypair *own,
                                    const char *server_public_z85);

/* psync_security_client_new from the key pair file key_file (0600) and the
 * server's public key file server_pub_file. */
psync_err psync_security_client_from_files(psync_security **out, const char *key_file,
                                           const char *server_pub_file);

/* Creates a plain object (no CURVE, no authentication) and logs WARN
 * security_disabled. With allow_remote == 0, psync_security_apply refuses
 * endpoints for which psync_security_required() is true. */
psync_err psync_security_plain_new(psync_security **out, int allow_remote);

/* Sets the socket options of sec on socket, to be used on endpoint (call
 * before zmq_bind / zmq_connect). Server: ZMQ_CURVE_SERVER, secret key,
 * ZMQ_ZAP_DOMAIN "psync", ZAP domain enforcement. Client: server key and
 * own pair. Plain: nothing, or PSYNC_ECONFIG for a non-loopback endpoint
 * unless allow_remote; every remote plain endpoint is logged (WARN).
 * PSYNC_EIO if libzmq refuses an option. */
psync_err psync_security_apply(psync_security *sec, void *socket, const char *endpoint);

/* True for a plain object. */
bool psync_security_is_plain(const psync_security *sec);

/* Own public key (Z85), "" for a plain object. Lives as long as sec. */
const char *psync_security_public_key(const psync_security *sec);

/* Counters of the ZAP handler so far (zero for client / plain objects);
 * safe to call from any thread. */
void psync_security_counts_get(const psync_security *sec, psync_security_counts *out);

/* Stops the ZAP handler (later handshakes on its context then fail closed),
 * wipes the keys and frees sec; accepts NULL and sets *sec to NULL. Call
 * before zmq_ctx_term of the context given to server_new. */
void psync_security_destroy(psync_security **sec);

/* ---- client handshake watcher (handshake.c) ---- */

typedef struct psync_handshake_watch psync_handshake_watch;

/* Starts watching the handshakes of socket (a socket monitor on zmq_ctx).
 * Must be called BEFORE zmq_connect, or the outcome may be missed. */
psync_err psync_handshake_watch_start(void *zmq_ctx, void *socket, psync_handshake_watch **out);

/* Waits up to timeout_ms for the outcome of the next handshake: PSYNC_OK
 * once one succeeded; PSYNC_EAUTH when the server refused us (our key not
 * allow-listed), the handshake broke (wrong server key, server without
 * a running ZAP handler) or the security mechanisms differ; PSYNC_ETIMEOUT
 * if nothing conclusive happened (server not up yet). May be called again. */
psync_err psync_handshake_watch_wait(psync_handshake_watch *w, int timeout_ms);

/* Stops the monitor and frees w; accepts NULL and sets *w to NULL. */
void psync_handshake_watch_destroy(psync_handshake_watch **w);

/* zmq_connect(socket, endpoint) under a watch: returns what
 * psync_handshake_watch_wait returns (PSYNC_OK / PSYNC_EAUTH /
 * PSYNC_ETIMEOUT), or PSYNC_EIO if zmq_connect fails. The socket stays
 * connected whatever the result; close it to give up. */
psync_err psync_security_watch_handshake(void *zmq_ctx, void *socket, const char *endpoint,
                                         int timeout_ms);

#endif
