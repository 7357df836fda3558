/* endpoint.c: blob sources and destinations: stdin/stdout, inherited file
 * descriptors, Unix sockets (client side) and, for reading, plain files.
 * Reads grow one aligned buffer geometrically up to a limit. */
#include "endpoint.h"

#include "blob.h"
#include "decode_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ENDPOINT_FIRST_CAP (1u << 20)

/* Parses "fd:N" into *fd. */
static psync_err endpoint_fd(const char *spec, int *fd)
{
    char *end;
    errno = 0;
    long v = strtol(spec + 3, &end, 10);
    if (spec[3] == '\0' || *end || errno || v < 0 || v > 1 << 20)
        return psync_fail(PSYNC_EINVAL, "endpoint '%s': expected fd:N with N a descriptor", spec);
    *fd = (int)v;
    return PSYNC_OK;
}

static psync_err endpoint_unix(const char *spec, int *fd)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    const char *path = spec + 5;
    if (!*path || strlen(path) >= sizeof addr.sun_path)
        return psync_fail(PSYNC_EINVAL,
                          "endpoint '%s': expected unix:PATH, PATH under %zu "
                          "bytes",
                          spec, sizeof addr.sun_path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0) return psync_fail(PSYNC_EIO, "socket: %s", strerror(errno));
    if (connect(*fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        close(*fd);
        return psync_fail(e == ENOENT ? PSYNC_ENOTFOUND : PSYNC_EIO, "connect %s: %s", path,
                          strerror(e));
    }
    return PSYNC_OK;
}

/* Opens an endpoint; *owned says whether the caller must close the fd. */
static psync_err endpoint_open(const char *spec, int std_fd, int file_ok, int *fd, int *owned)
{
    *owned = 0;
    if (!strcmp(spec, "-")) {
        *fd = std_fd;
        return PSYNC_OK;
    }
    if (!strncmp(spec, "fd:", 3)) return endpoint_fd(spec, fd);
    *owned = 1;
    if (!strncmp(spec, "unix:", 5)) return endpoint_unix(spec, fd);
    if (!file_ok)
        return psync_fail(PSYNC_EINVAL,
                          "destination '%s': expected -, fd:N or unix:PATH "
                          "(blobs are never written to files)",
                          spec);
    *fd = open(spec, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return psync_fail(errno == ENOENT ? PSYNC_ENOTFOUND : PSYNC_EIO, "%s: %s", spec,
                          strerror(errno));
    return PSYNC_OK;
}

/* Doubles *buf (aligned) keeping its first len bytes. */
static psync_err endpoint_grow(void **buf, size_t *cap, size_t len, uint64_t max)
{
    size_t ncap = *cap ? *cap * 2 : ENDPOINT_FIRST_CAP;
    if (*cap >= max)
        return psync_fail(PSYNC_ELIMIT, "blob larger than the limit of %llu bytes",
                          (unsigned long long)max);
    if (ncap > max) ncap = (size_t)max;
    void *n = NULL;
    if (posix_memalign(&n, 64, ncap ? ncap : 64) != 0)
        return psync_fail(PSYNC_ENOMEM, "blob buffer of %zu bytes", ncap);
    if (len) memcpy(n, *buf, len);
    free(*buf);
    *buf = n;
    *cap = ncap;
    return PSYNC_OK;
}

static psync_err endpoint_slurp(int fd, const char *spec, uint64_t max, void **buf, size_t *len)
{
    size_t cap = 0;
    psync_err err = PSYNC_OK;
    *buf = NULL;
    *len = 0;
    for (;;) {
        if (*len == cap && (err = endpoint_grow(buf, &cap, *len, max))) break;
        ssize_t got = read(fd, (char *)*buf + *len, cap - *len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) err = psync_fail(PSYNC_EIO, "reading %s: %s", spec, strerror(errno));
        if (got <= 0) break;
        *len += (size_t)got;
    }
    if (err) {
        free(*buf);
        *buf = NULL;
    }
    return err;
}

psync_err psync_endpoint_read(const char *src, uint64_t max, void **buf, size_t *len)
{
    int fd, owned;
    psync_err err = endpoint_open(src, STDIN_FILENO, 1, &fd, &owned);
    if (err) return err;
    err = endpoint_slurp(fd, src, max, buf, len);
    if (owned) close(fd);
    return err;
}

psync_err psync_endpoint_write(const char *dst, const void *buf, size_t len)
{
    int fd, owned;
    psync_err err = endpoint_open(dst, STDOUT_FILENO, 0, &fd, &owned);
    if (err) return err;
    for (size_t done = 0; !err && done < len;) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            err = psync_fail(PSYNC_EIO, "writing to %s: %s", dst, strerror(errno));
        else
            done += (size_t)n;
    }
    if (owned) close(fd);
    return err;
}

psync_err psync_model_thaw(const char *src, psync_model **out)
{
    void *buf;
    size_t len;
    psync_err err = psync_endpoint_read(src, psync_default_limits.max_blob_bytes, &buf, &len);
    if (err) return err;
    err = psync_blob_decode(buf, len, NULL, PSYNC_DECODE_TAKE, out);
    if (err) free(buf);
    return err;
}

psync_err psync_model_freeze(psync_model *m, const char *dst, size_t *len)
{
    const void *blob;
    void *buf = NULL;
    size_t n;
    psync_err err = psync_blob_freeze(m, &blob, &n); /* in place: no payload copy */
    if (err == PSYNC_ELIMIT) {
        err = psync_blob_encode(m, &buf, &n);
        blob = buf;
    }
    if (err) return err;
    err = psync_endpoint_write(dst, blob, n);
    free(buf);
    if (!err && len) *len = n;
    return err;
}
