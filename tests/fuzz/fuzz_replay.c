/* fuzz_replay.c: main() for a fuzz harness built without a fuzzing engine:
 * runs LLVMFuzzerTestOneInput on every file of the directories/files given
 * as arguments, then the harness's psync_fuzz_replay_done() if it has one
 * (a weak symbol: shut down what the harness started). Fails on no input. */
#ifndef PSYNC_FUZZ_ENGINE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void psync_fuzz_replay_done(void) __attribute__((weak));

/* Replays one file or every file under a directory; counts inputs. */
static int fr_replay(const char *path, unsigned *count)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        int rc = 0;
        char sub[4096];
        while (!rc && (e = readdir(dir)))
            if (e->d_name[0] != '.') {
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rc = fr_replay(sub, count);
            }
        closedir(dir);
        return rc;
    }
    static uint8_t data[1 << 20];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
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
        if (fr_replay(argv[i], &count)) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
    if (psync_fuzz_replay_done) psync_fuzz_replay_done();
    printf("replayed %u inputs\n", count);
    return count ? 0 : 1;
}
#endif
