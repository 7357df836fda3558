/* secopts.h: a client's security from its settings: key file, server key
 * (Z85 or a .pub file) and the explicit plain choice, the same for the
 * client library, psync-worker and `psync status` (docs/security.md). */
#ifndef PSYNC_SECOPTS_H
#define PSYNC_SECOPTS_H

#include <stdbool.h>

#include "error.h"
#include "security.h"

/* Creates *out for connecting to endpoint (and endpoint2, may be NULL):
 * CURVE when key_file and server_key are given (NULL or "": taken from
 * PSYNC_KEY_FILE / PSYNC_SERVER_KEY); otherwise plain, logged (WARN), and
 * refused with PSYNC_ECONFIG for a non-loopback endpoint unless
 * insecure_plain or PSYNC_INSECURE_PLAIN=1. server_key is 40 Z85
 * characters or the path of a public key file. PSYNC_ECONFIG (one of the
 * two keys missing), key file errors (keys.h). *out owned by the caller. */
psync_err psync_secopts_client(psync_security **out, const char *key_file, const char *server_key,
                               bool insecure_plain, const char *endpoint, const char *endpoint2);

#endif
