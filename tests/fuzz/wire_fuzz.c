/* wire_fuzz.c: fuzzes the wire header decoder (and the chunk check) with
 * arbitrary bytes: the first two bytes (little endian) give the header
 * frame's length, the header follows, the rest is a chunk payload. A header that decodes must re-encode and decode to the same
 * bytes. With -DPSYNC_FUZZ=ON this is a libFuzzer harness; otherwise main()
 * replays the corpus files given as arguments (tests/fuzz/corpus/wire). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    psync_wire_hdr h, again;
    unsigned char buf[PSYNC_WIRE_MAX_HEADER], buf2[PSYNC_WIRE_MAX_HEADER];
    size_t len, len2;
    if (size < 2)
        return 0;
    size_t hl = (size_t)data[0] | (size_t)data[1] << 8;
    hl = hl > size - 2 ? size - 2 : hl;
    if (psync_wire_decode(data + 2, hl, &h))
        return 0;
    if (psync_wire_encode(&h, buf, sizeof buf, &len) || psync_wire_decode(buf, len, &again) ||
        psync_wire_encode(&again, buf2, sizeof buf2, &len2) || len != len2 || memcmp(buf, buf2, len))
        abort();
    if (psync_wire_msg(h.t)->payload == PSYNC_PL_CHUNK)
        (void)psync_wire_chunk_check(&h, data + 2 + hl, size - 2 - hl, 64, 1u << 20);
    return 0;
}

#ifndef PSYNC_FUZZ_ENGINE
/* Replays one file or every file of a directory; counts inputs. */
static int wf_replay(const char *path, unsigned *count)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        int rc = 0;
        char sub[4096];
        while (!rc && (e = readdir(dir)))
            if (e->d_name[0] != '.') {
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rc = wf_replay(sub, count);
            }
        closedir(dir);
        return rc;
    }
    FILE *f = fopen(path, "rb");
    static uint8_t data[1 << 20];
    if (!f)
        return -1;
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    LLVMFuzzerTestOneInput(data, n);
    (*count)++;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    for (int i = 1; i < argc; i++)
        if (wf_replay(argv[i], &count)) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
    printf("replayed %u inputs\n", count);
    return count ? 0 : 1;
}
#endif
