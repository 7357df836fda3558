/* keyfile.c: bounded reads of psync's small text files (keys, allow-lists)
 * with the private-mode check for secret files, and their line parsing. */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Checks what fstat says about an opened key file. */
static psync_err keyfile_check_stat(const char *path, const struct stat *st, size_t max_bytes,
                                    int private_only)
{
    if (!S_ISREG(st->st_mode)) return psync_fail(PSYNC_EIO, "%s: not a regular file", path);
    if (private_only && (st->st_mode & 077))
        return psync_fail(PSYNC_ECONFIG,
                          "%s holds a secret key but group/others may access it (mode %04o); "
                          "run `chmod 600 %s`",
                          path, (unsigned)(st->st_mode & 07777), path);
    if ((unsigned long long)st->st_size > max_bytes)
        return psync_fail(PSYNC_ELIMIT, "%s: %lld bytes, more than the %zu allowed", path,
                          (long long)st->st_size, max_bytes);
    return PSYNC_OK;
}

/* Reads exactly len bytes (the file may shrink: then fewer) into buf. */
static psync_err keyfile_read_all(int fd, const char *path, char *buf, size_t len, size_t *got)
{
    *got = 0;
    while (*got < len) {
        ssize_t n = read(fd, buf + *got, len - *got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return psync_fail(PSYNC_EIO, "%s: read: %s", path, strerror(errno));
        if (n == 0) break;
        *got += (size_t)n;
    }
    return PSYNC_OK;
}

psync_err psync_keyfile_read(const char *path, size_t max_bytes, int private_only, char **text)
{
    *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return psync_fail(errno == ENOENT ? PSYNC_ENOTFOUND : PSYNC_EIO, "%s: %s", path,
                          strerror(errno));
    struct stat st;
    psync_err err = fstat(fd, &st) ? psync_fail(PSYNC_EIO, "%s: %s", path, strerror(errno))
                                   : keyfile_check_stat(path, &st, max_bytes, private_only);
    if (err) goto close_fd;
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        err = psync_fail(PSYNC_ENOMEM, "%s: %lld bytes", path, (long long)st.st_size);
        goto close_fd;
    }
    size_t got = 0;
    err = keyfile_read_all(fd, path, buf, (size_t)st.st_size, &got);
    buf[got] = '\0';
    if (!err && strlen(buf) != got)
        err = psync_fail(PSYNC_EFORMAT, "%s: holds a NUL byte; not a text key file", path);
    if (err)
        free(buf);
    else
        *text = buf;
close_fd:
    close(fd);
    return err;
}

/* Trims blanks (space, tab, CR) on both ends of s in place. */
static char *keyfile_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

char *psync_keyfile_next_line(char **cursor)
{
    char *line = *cursor;
    if (!line || !*line) return NULL;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = line + strlen(line);
    }
    return keyfile_trim(line);
}

int psync_keyfile_split(char *line, char **name, char **value)
{
    char *eq = strchr(line, '=');
    if (!eq) return -1;
    *eq = '\0';
    *name = keyfile_trim(line);
    *value = keyfile_trim(eq + 1);
    return (**name && **value) ? 0 : -1;
}
