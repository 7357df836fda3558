/* address.c: the control -> bulk endpoint rule (address.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

static psync_err psync_address_long(const char *addr)
{
    return psync_fail(PSYNC_ECONFIG, "daemon address '%.64s...' is too long", addr);
}

psync_err psync_address_derive(const char *addr, char *control, char *bulk, size_t cap)
{
    bool ipc = !strncmp(addr, "ipc://", 6), tcp = !strncmp(addr, "tcp://", 6);
    const char *scheme = ipc || tcp ? "" : "tcp://";
    int len;
    if (control && ((len = snprintf(control, cap, "%s%s", scheme, addr)) < 0 || (size_t)len >= cap))
        return psync_address_long(addr);
    if (ipc) {
        if (bulk && ((len = snprintf(bulk, cap, "%s.bulk", addr)) < 0 || (size_t)len >= cap))
            return psync_address_long(addr);
        return PSYNC_OK;
    }
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || *end || port < 1 || port > 65534)
        return psync_fail(PSYNC_ECONFIG, "daemon address '%s' has no valid port (tcp://HOST:PORT)",
                          addr);
    if (bulk && ((len = snprintf(bulk, cap, "%s%.*s:%ld", scheme, (int)(colon - addr), addr,
                                 port + 1)) < 0 ||
                 (size_t)len >= cap))
        return psync_address_long(addr);
    return PSYNC_OK;
}
