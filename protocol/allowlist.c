/* allowlist.c: the set of client public keys a psync server accepts, loaded
 * from a directory of *.pub files or from a "KEY [name]" list file. Lookups
 * are linear: they happen once per connection handshake. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keyfile.h"
#include "keys.h"

typedef struct allowlist_entry {
    uint8_t key[PSYNC_KEY_BYTES];
    char name[PSYNC_KEY_NAME_MAX];
} allowlist_entry;

struct psync_allowlist {
    allowlist_entry *entries;
    size_t count, cap;
};

psync_err psync_allowlist_new(psync_allowlist **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? PSYNC_OK : psync_fail(PSYNC_ENOMEM, "allow-list");
}

void psync_allowlist_destroy(psync_allowlist **al)
{
    if (!al || !*al) return;
    free((*al)->entries);
    free(*al);
    *al = NULL;
}

size_t psync_allowlist_count(const psync_allowlist *al)
{
    return al ? al->count : 0;
}

const char *psync_allowlist_find(const psync_allowlist *al, const uint8_t raw[PSYNC_KEY_BYTES])
{
    for (size_t i = 0; al && i < al->count; i++)
        if (!memcmp(al->entries[i].key, raw, PSYNC_KEY_BYTES)) return al->entries[i].name;
    return NULL;
}

/* Copies name into dst, replacing characters unsafe in a log line. */
static void allowlist_set_name(char *dst, const char *name)
{
    snprintf(dst, PSYNC_KEY_NAME_MAX, "%s", name);
    for (char *p = dst; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f) *p = '_';
}

psync_err psync_allowlist_add(psync_allowlist *al, const char *z85, const char *name)
{
    uint8_t raw[PSYNC_KEY_BYTES];
    psync_err err = psync_key_decode(z85, raw);
    if (err) return err;
    if (psync_allowlist_find(al, raw)) return PSYNC_OK;
    if (al->count >= PSYNC_ALLOWLIST_MAX)
        return psync_fail(PSYNC_ELIMIT, "allow-list holds more than %d keys", PSYNC_ALLOWLIST_MAX);
    if (al->count == al->cap) {
        size_t cap = al->cap ? al->cap * 2 : 16;
        allowlist_entry *grown = realloc(al->entries, cap * sizeof *grown);
        if (!grown) return psync_fail(PSYNC_ENOMEM, "allow-list of %zu keys", cap);
        al->entries = grown;
        al->cap = cap;
    }
    allowlist_entry *e = &al->entries[al->count++];
    memcpy(e->key, raw, sizeof raw);
    allowlist_set_name(e->name, name && *name ? name : z85);
    return PSYNC_OK;
}

/* Adds one list-file line: "public-key = KEY" or "KEY [name]". A line
 * starting with '#' that is not a key is a comment. */
static psync_err allowlist_add_line(psync_allowlist *al, const char *path, int lineno, char *line)
{
    char *name = NULL, *value = NULL;
    if (!strncmp(line, "public-key", 10) && !psync_keyfile_split(line, &name, &value) &&
        !strcmp(name, "public-key"))
        return psync_allowlist_add(al, value, NULL);
    size_t keylen = strcspn(line, " \t");
    char key[PSYNC_KEY_Z85_LEN + 1];
    int is_key = keylen == PSYNC_KEY_Z85_LEN;
    if (is_key) {
        memcpy(key, line, keylen);
        key[keylen] = '\0';
        is_key = psync_key_decode(key, NULL) == PSYNC_OK;
    }
    if (!is_key && line[0] == '#') return PSYNC_OK;
    if (!is_key)
        return psync_fail(PSYNC_EFORMAT, "%s:%d: expected a %d-character Z85 key", path, lineno,
                          PSYNC_KEY_Z85_LEN);
    name = line + keylen;
    name += strspn(name, " \t");
    return psync_allowlist_add(al, key, name);
}

/* Adds every key of a list file. */
static psync_err allowlist_load_file(psync_allowlist *al, const char *path)
{
    char *text, *cursor, *line;
    psync_err err = psync_keyfile_read(path, (size_t)PSYNC_ALLOWLIST_MAX * 128, 0, &text);
    if (err) return err;
    cursor = text;
    for (int lineno = 1; !err && (line = psync_keyfile_next_line(&cursor)); lineno++)
        if (*line) err = allowlist_add_line(al, path, lineno, line);
    free(text);
    return err;
}

/* Adds the key of dir/file (a *.pub file), named after the file. */
static psync_err allowlist_load_pub(psync_allowlist *al, const char *dir, const char *file)
{
    char path[4096], name[PSYNC_KEY_NAME_MAX], key[PSYNC_KEY_Z85_LEN + 1];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return psync_fail(PSYNC_EINVAL, "%s/%s: path too long", dir, file);
    snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 4), file);
    psync_err err = psync_pubkey_load(path, key);
    return err ? err : psync_allowlist_add(al, key, name);
}

/* Adds every *.pub file of a directory. */
static psync_err allowlist_load_dir(psync_allowlist *al, const char *path)
{
    DIR *d = opendir(path);
    if (!d) return psync_fail(PSYNC_EIO, "%s: cannot list the directory", path);
    psync_err err = PSYNC_OK;
    struct dirent *de;
    while (!err && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 4 && de->d_name[0] != '.' && !strcmp(de->d_name + n - 4, ".pub"))
            err = allowlist_load_pub(al, path, de->d_name);
    }
    closedir(d);
    return err;
}

psync_err psync_allowlist_load(const char *path, psync_allowlist **out)
{
    struct stat st;
    *out = NULL;
    if (stat(path, &st))
        return psync_fail(PSYNC_ENOTFOUND, "allow-list %s: no such file or directory", path);
    psync_allowlist *al;
    psync_err err = psync_allowlist_new(&al);
    if (err) return err;
    err = S_ISDIR(st.st_mode) ? allowlist_load_dir(al, path) : allowlist_load_file(al, path);
    if (!err && al->count == 0)
        err = psync_fail(PSYNC_ECONFIG, "allow-list %s holds no key: nobody could connect", path);
    if (err) psync_allowlist_destroy(&al);
    *out = al;
    return err;
}
