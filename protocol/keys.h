/* keys.h: psync's CURVE key files and allow-lists. A key pair file holds
 * `public-key = Z85` and `secret-key = Z85` lines (mode 0600, refused when
 * group/others can read it); a public key file holds the `public-key` line;
 * an allow-list is a directory of *.pub files or a file of "KEY [name]" lines.
 *
 * File format (text, one `name = value` per line, '#' starts a comment):
 *     # psync CURVE key pair (Z85). Secret: keep mode 0600.
 *     public-key = rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
 *     secret-key = JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6
 * Keys are 40 Z85 characters (32 bytes). Unknown names are an error. */
#ifndef PSYNC_KEYS_H
#define PSYNC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PSYNC_KEY_Z85_LEN 40           /* characters of one Z85 key */
#define PSYNC_KEY_BYTES 32             /* bytes of one decoded key */
#define PSYNC_KEY_NAME_MAX 64          /* bytes of an allow-list name, with NUL */
#define PSYNC_KEY_FILE_MAX (64 * 1024) /* largest key / .pub file read */
#define PSYNC_ALLOWLIST_MAX 65536      /* most keys in one allow-list */

typedef struct psync_keypair {
    char public_key[PSYNC_KEY_Z85_LEN + 1]; /* Z85, NUL-terminated */
    char secret_key[PSYNC_KEY_Z85_LEN + 1]; /* Z85, NUL-terminated */
} psync_keypair;

typedef struct psync_allowlist psync_allowlist;

/* Fills *out with a fresh CURVE key pair (zmq_curve_keypair). Fails with
 * PSYNC_ECONFIG when libzmq was built without CURVE. */
psync_err psync_keypair_generate(psync_keypair *out);

/* Checks that z85 is exactly 40 Z85 characters; if raw is not NULL, stores
 * the 32 decoded bytes there. PSYNC_EFORMAT otherwise. */
psync_err psync_key_decode(const char *z85, uint8_t raw[PSYNC_KEY_BYTES]);

/* Writes kp to path as a key pair file with mode 0600 (written to a
 * temporary file in the same directory, then linked into place, so the
 * secret never sits in a file with a looser mode). An existing path is
 * replaced only when overwrite is non-zero (PSYNC_EBUSY otherwise).
 * PSYNC_EIO with errno text on system failures. */
psync_err psync_keypair_save(const psync_keypair *kp, const char *path, int overwrite);

/* Writes public_key (Z85) to path as a public key file, mode 0644; same
 * overwrite rule and errors as psync_keypair_save. */
psync_err psync_pubkey_save(const char *public_key, const char *path, int overwrite);

/* Reads a key pair file into *out. Refuses (PSYNC_ECONFIG, detail says
 * `chmod 600 FILE`) a file that group or others may access; PSYNC_EFORMAT
 * for a malformed file or a public key that does not belong to the secret
 * key; PSYNC_ENOTFOUND / PSYNC_EIO when the file cannot be read. */
psync_err psync_keypair_load(const char *path, psync_keypair *out);

/* Reads the `public-key` of a public key file (or of a key pair file, whose
 * secret line is then ignored and not checked) into out (41 bytes, Z85). */
psync_err psync_pubkey_load(const char *path, char out[PSYNC_KEY_Z85_LEN + 1]);

/* Loads an allow-list from path: a directory (every *.pub file in it, named
 * after the file without .pub) or a text file (one "Z85KEY [name]" or
 * "public-key = Z85KEY" per line; '#' comments, blank lines ignored). An
 * empty list is refused (PSYNC_ECONFIG): it would lock everyone out.
 * On success *out is a new list owned by the caller (psync_allowlist_destroy). */
psync_err psync_allowlist_load(const char *path, psync_allowlist **out);

/* Creates an empty list (for building one in code); NULL out on failure. */
psync_err psync_allowlist_new(psync_allowlist **out);

/* Adds one key (Z85) with an optional name (copied, truncated to
 * PSYNC_KEY_NAME_MAX - 1; NULL: the key itself). PSYNC_ELIMIT past
 * PSYNC_ALLOWLIST_MAX, PSYNC_EFORMAT for a bad key. */
psync_err psync_allowlist_add(psync_allowlist *al, const char *z85, const char *name);

/* Returns the name of raw (32 bytes) if it is on the list, NULL otherwise.
 * The string lives as long as the list. */
const char *psync_allowlist_find(const psync_allowlist *al, const uint8_t raw[PSYNC_KEY_BYTES]);

/* Number of keys on the list. */
size_t psync_allowlist_count(const psync_allowlist *al);

/* Frees the list; accepts NULL and sets *al to NULL. */
void psync_allowlist_destroy(psync_allowlist **al);

#endif
