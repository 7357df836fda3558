/* address.h: where a psyncd's bulk socket is, given its control endpoint.
 * One rule for every peer (workers, psync status, a standby daemon):
 * tcp://HOST:PORT -> tcp://HOST:PORT+1; ipc://PATH -> ipc://PATH.bulk; a
 * bare HOST:PORT means tcp://. */
#ifndef PSYNC_ADDRESS_H
#define PSYNC_ADDRESS_H

#include <stddef.h>

#include "error.h"

/* Writes the normalised control endpoint (tcp:// added to a bare HOST:PORT)
 * to control and the derived bulk endpoint to bulk (cap bytes each; either
 * may be NULL). PSYNC_ECONFIG (detail names the address) when a tcp
 * address has no valid port below 65535 or a result does not fit. */
psync_err psync_address_derive(const char *addr, char *control, char *bulk, size_t cap);

#endif
