/* nameset.c: open-addressing string set with linear probing (see nameset.h).
 * Capacity is a power of two at least twice the expected count. */
#include "nameset.h"

#include <stdlib.h>
#include <string.h>

#include "fnv.h"

psync_err psync_nameset_init(psync_nameset *s, uint32_t n)
{
    uint32_t cap = 16;
    while (cap < 2ULL * n)
        cap <<= 1;
    s->slots = calloc(cap, sizeof *s->slots);
    s->mask = cap - 1;
    if (!s->slots) return psync_fail(PSYNC_ENOMEM, "name set of %u entries", cap);
    return PSYNC_OK;
}

void psync_nameset_free(psync_nameset *s)
{
    free(s->slots);
    s->slots = NULL;
}

/* Slot holding name, or the empty slot where it would go. */
static uint32_t nameset_find(const psync_nameset *s, const char *name)
{
    uint32_t i = (uint32_t)psync_fnv1a64(PSYNC_FNV_OFFSET, name, strlen(name)) & s->mask;
    while (s->slots[i] && strcmp(s->slots[i], name))
        i = (i + 1) & s->mask;
    return i;
}

bool psync_nameset_add(psync_nameset *s, const char *name)
{
    uint32_t i = nameset_find(s, name);
    if (s->slots[i]) return false;
    s->slots[i] = name;
    return true;
}

bool psync_nameset_has(const psync_nameset *s, const char *name)
{
    return s->slots[nameset_find(s, name)] != NULL;
}
