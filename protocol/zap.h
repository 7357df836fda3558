/* zap.h: psync's ZAP handler (ZeroMQ RFC 27): a thread answering the
 * authentication requests of every CURVE server socket of one context.
 * Internal to security.c; integrators use security.h. */
#ifndef PSYNC_ZAP_H
#define PSYNC_ZAP_H

#include <stdint.h>

#include "error.h"
#include "keys.h"

typedef struct psync_zap psync_zap;

/* Binds inproc://zeromq.zap.01 on zmq_ctx and starts the handler thread,
 * which answers 200 only for domain "psync", mechanism CURVE and a client
 * key on allow (borrowed: must outlive the handler), 400 otherwise.
 * PSYNC_EBUSY if the context already has a ZAP handler. */
psync_err psync_zap_start(void *zmq_ctx, const psync_allowlist *allow, psync_zap **out);

/* Reads the counters (any thread). */
void psync_zap_counts(const psync_zap *z, uint64_t *accepted, uint64_t *denied);

/* Stops the thread, unbinds the handler (handshakes then fail closed) and
 * frees z; accepts NULL and sets *z to NULL. */
void psync_zap_stop(psync_zap **z);

#endif
