/* nameset.h: a small open-addressing set of borrowed C strings, used to
 * check name uniqueness and references in O(n) when validating graphs and
 * tensor tables decoded from untrusted input. Internal to libpsync. */
#ifndef PSYNC_NAMESET_H
#define PSYNC_NAMESET_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef struct psync_nameset {
    const char **slots; /* borrowed strings; they must outlive the set */
    uint32_t mask;
} psync_nameset;

/* Sizes the set for up to n names; PSYNC_ENOMEM on failure. */
psync_err psync_nameset_init(psync_nameset *s, uint32_t n);
void psync_nameset_free(psync_nameset *s);
/* Adds name; returns false if it was already present. */
bool psync_nameset_add(psync_nameset *s, const char *name);
bool psync_nameset_has(const psync_nameset *s, const char *name);

#endif
