/* keyfile.h: reading psync's small text files (key pairs, public keys,
 * allow-lists): a bounded whole-file read with an optional "private file"
 * mode check, and a line splitter for `name = value` lines. Internal to
 * keys.c and allowlist.c. */
#ifndef PSYNC_KEYFILE_H
#define PSYNC_KEYFILE_H

#include <stddef.h>

#include "error.h"

/* Reads the regular file at path (at most max_bytes) into a new
 * NUL-terminated buffer *text (caller frees). With private_only, refuses a
 * file that group or others may access (PSYNC_ECONFIG, "chmod 600 path").
 * PSYNC_ENOTFOUND if missing, PSYNC_ELIMIT if larger than max_bytes,
 * PSYNC_EFORMAT if it holds a NUL byte, PSYNC_EIO otherwise. */
psync_err psync_keyfile_read(const char *path, size_t max_bytes, int private_only, char **text);

/* Returns the next line of *cursor (modified in place: the newline becomes
 * NUL), trimmed of blanks; NULL at the end. Empty lines come back as "".
 * Comments are whole lines starting with '#' (Z85 keys may hold '#' and
 * '=', so nothing is stripped inside a line); callers decide. */
char *psync_keyfile_next_line(char **cursor);

/* Splits "name = value" in place; returns 0 and sets *name and *value (both
 * trimmed, non-empty), -1 if the line has no '=' or an empty side. */
int psync_keyfile_split(char *line, char **name, char **value);

#endif
