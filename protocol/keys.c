/* keys.c: CURVE key pairs and public key files: generation, Z85 checks,
 * atomic 0600 writes, and loads that refuse a secret file others can read.
 * Allow-lists live in allowlist.c; the file reading in keyfile.c. */
#include "keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "keyfile.h"

psync_err psync_keypair_generate(psync_keypair *out)
{
    memset(out, 0, sizeof *out);
    if (zmq_curve_keypair(out->public_key, out->secret_key) != 0)
        return psync_fail(PSYNC_ECONFIG, "zmq_curve_keypair: %s (libzmq built without CURVE?)",
                          zmq_strerror(zmq_errno()));
    return PSYNC_OK;
}

psync_err psync_key_decode(const char *z85, uint8_t raw[PSYNC_KEY_BYTES])
{
    uint8_t tmp[PSYNC_KEY_BYTES];
    if (!z85 || strlen(z85) != PSYNC_KEY_Z85_LEN)
        return psync_fail(PSYNC_EFORMAT, "a key is %d Z85 characters, got %zu", PSYNC_KEY_Z85_LEN,
                          z85 ? strlen(z85) : 0);
    if (!zmq_z85_decode(tmp, z85))
        return psync_fail(PSYNC_EFORMAT, "key '%.40s' is not valid Z85", z85);
    if (raw) memcpy(raw, tmp, sizeof tmp);
    return PSYNC_OK;
}

/* Writes all of text to fd, retrying short writes. */
static int keys_write_all(int fd, const char *text)
{
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        done += (size_t)n;
    }
    return 0;
}

/* Moves the finished temporary file tmp to path (replacing only if
 * overwrite). The temporary name is always gone afterwards. */
static psync_err keys_install(const char *tmp, const char *path, int overwrite)
{
    psync_err err = PSYNC_OK;
    if (overwrite) {
        if (rename(tmp, path) == 0) return PSYNC_OK;
        err = psync_fail(PSYNC_EIO, "%s: %s", path, strerror(errno));
    } else if (link(tmp, path) != 0) {
        err = errno == EEXIST ? psync_fail(PSYNC_EBUSY, "%s exists; refusing to overwrite it", path)
                              : psync_fail(PSYNC_EIO, "%s: %s", path, strerror(errno));
    }
    unlink(tmp);
    return err;
}

/* Writes text to path with the given mode through a temporary file. */
static psync_err keys_write_file(const char *path, const char *text, mode_t mode, int overwrite)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp)
        return psync_fail(PSYNC_EINVAL, "key file path too long");
    int fd = mkstemp(tmp); /* created 0600 */
    if (fd < 0) return psync_fail(PSYNC_EIO, "%s: cannot create: %s", path, strerror(errno));
    psync_err err = PSYNC_OK;
    if (fchmod(fd, mode) || keys_write_all(fd, text) || fsync(fd))
        err = psync_fail(PSYNC_EIO, "%s: write: %s", path, strerror(errno));
    if (close(fd) && !err) err = psync_fail(PSYNC_EIO, "%s: close: %s", path, strerror(errno));
    if (err) {
        unlink(tmp);
        return err;
    }
    return keys_install(tmp, path, overwrite);
}

psync_err psync_keypair_save(const psync_keypair *kp, const char *path, int overwrite)
{
    psync_err err = psync_key_decode(kp->public_key, NULL);
    if (!err) err = psync_key_decode(kp->secret_key, NULL);
    if (err) return err;
    char text[256];
    snprintf(text, sizeof text,
             "# psync CURVE key pair (Z85). Secret: keep this file mode 0600.\n"
             "public-key = %s\nsecret-key = %s\n",
             kp->public_key, kp->secret_key);
    err = keys_write_file(path, text, 0600, overwrite);
    memset(text, 0, sizeof text);
    return err;
}

psync_err psync_pubkey_save(const char *public_key, const char *path, int overwrite)
{
    psync_err err = psync_key_decode(public_key, NULL);
    if (err) return err;
    char text[160];
    snprintf(text, sizeof text, "# psync CURVE public key (Z85).\npublic-key = %s\n", public_key);
    return keys_write_file(path, text, 0644, overwrite);
}

/* Stores value (a Z85 key) into dst (41 bytes) if it decodes; reports the
 * file and line otherwise. dst must still be empty (no repeated lines). */
static psync_err keys_take(const char *path, int lineno, const char *value, char *dst)
{
    if (*dst) return psync_fail(PSYNC_EFORMAT, "%s:%d: key given twice", path, lineno);
    if (psync_key_decode(value, NULL))
        return psync_fail(PSYNC_EFORMAT, "%s:%d: not a %d-character Z85 key", path, lineno,
                          PSYNC_KEY_Z85_LEN);
    memcpy(dst, value, PSYNC_KEY_Z85_LEN + 1);
    return PSYNC_OK;
}

/* Parses the `public-key` / `secret-key` lines of text into out. */
static psync_err keys_parse(const char *path, char *text, psync_keypair *out)
{
    char *cursor = text, *line, *name, *value;
    int lineno = 0;
    psync_err err = PSYNC_OK;
    while (!err && (line = psync_keyfile_next_line(&cursor))) {
        lineno++;
        if (!*line || *line == '#') continue;
        if (psync_keyfile_split(line, &name, &value))
            err = psync_fail(PSYNC_EFORMAT, "%s:%d: expected `name = value`", path, lineno);
        else if (!strcmp(name, "public-key"))
            err = keys_take(path, lineno, value, out->public_key);
        else if (!strcmp(name, "secret-key"))
            err = keys_take(path, lineno, value, out->secret_key);
        else
            err = psync_fail(PSYNC_EFORMAT, "%s:%d: unknown setting '%.32s'", path, lineno, name);
    }
    return err;
}

/* Checks that the public key of kp is the one derived from its secret. */
static psync_err keys_check_pair(const char *path, const psync_keypair *kp)
{
    char derived[PSYNC_KEY_Z85_LEN + 1];
    if (zmq_curve_public(derived, kp->secret_key) != 0)
        return psync_fail(PSYNC_EFORMAT, "%s: cannot derive the public key: %s", path,
                          zmq_strerror(zmq_errno()));
    if (strcmp(derived, kp->public_key))
        return psync_fail(PSYNC_EFORMAT, "%s: public-key does not belong to secret-key", path);
    return PSYNC_OK;
}

psync_err psync_keypair_load(const char *path, psync_keypair *out)
{
    memset(out, 0, sizeof *out);
    char *text;
    psync_err err = psync_keyfile_read(path, PSYNC_KEY_FILE_MAX, 1, &text);
    if (err) return err;
    err = keys_parse(path, text, out);
    if (!err && (!out->public_key[0] || !out->secret_key[0]))
        err = psync_fail(PSYNC_EFORMAT, "%s: needs both public-key and secret-key lines", path);
    if (!err) err = keys_check_pair(path, out);
    memset(text, 0, strlen(text));
    free(text);
    if (err) memset(out, 0, sizeof *out);
    return err;
}

psync_err psync_pubkey_load(const char *path, char out[PSYNC_KEY_Z85_LEN + 1])
{
    out[0] = '\0';
    char *text;
    psync_err err = psync_keyfile_read(path, PSYNC_KEY_FILE_MAX, 0, &text);
    if (err) return err;
    psync_keypair kp;
    memset(&kp, 0, sizeof kp);
    err = keys_parse(path, text, &kp);
    if (!err && !kp.public_key[0]) err = psync_fail(PSYNC_EFORMAT, "%s: no public-key line", path);
    if (!err) memcpy(out, kp.public_key, sizeof kp.public_key);
    memset(&kp, 0, sizeof kp);
    memset(text, 0, strlen(text));
    free(text);
    return err;
}
