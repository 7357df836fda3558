/* keygen.c: `psync keygen [--force] NAME`: creates NAME.key (the CURVE key
 * pair, mode 0600) and NAME.pub (the public key, 0644) for a psyncd or a
 * worker; the .pub files of workers make the daemon's allow-list. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.h"
#include "keys.h"

static void keygen_usage(FILE *out)
{
    fputs("usage: psync keygen [--force] NAME\n"
          "\n"
          "Creates a CURVE key pair for a psyncd or a worker:\n"
          "  NAME.key  public + secret key (mode 0600; keep it secret)\n"
          "  NAME.pub  public key only (give it to the other side)\n"
          "\n"
          "A daemon's allow-list is a directory holding the workers' .pub files.\n"
          "\n"
          "options:\n"
          "  --force   replace existing NAME.key / NAME.pub\n"
          "  --help    show this help\n",
          out);
}

/* Writes both files; returns a sysexits code. */
static int keygen_write(const char *name, int force)
{
    char key_path[4096], pub_path[4096];
    if (snprintf(key_path, sizeof key_path, "%s.key", name) >= (int)sizeof key_path ||
        snprintf(pub_path, sizeof pub_path, "%s.pub", name) >= (int)sizeof pub_path) {
        fprintf(stderr, "psync keygen: name too long\n");
        return EX_USAGE;
    }
    if (!force && (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0)) {
        fprintf(stderr, "psync keygen: %s or %s exists (use --force to replace them)\n", key_path,
                pub_path);
        return EX_CANTCREAT;
    }
    psync_keypair kp;
    psync_err err = psync_keypair_generate(&kp);
    if (!err) err = psync_keypair_save(&kp, key_path, force);
    if (!err) err = psync_pubkey_save(kp.public_key, pub_path, force);
    if (err) {
        fprintf(stderr, "psync keygen: %s%s\n", psync_errdetail(),
                err == PSYNC_EBUSY ? " (use --force to replace it)" : "");
        memset(&kp, 0, sizeof kp);
        return err == PSYNC_EBUSY ? EX_CANTCREAT : psync_exit_code(err);
    }
    printf("wrote %s (key pair, mode 0600) and %s (public key)\npublic-key = %s\n", key_path,
           pub_path, kp.public_key);
    memset(&kp, 0, sizeof kp);
    return EX_OK;
}

int psync_cmd_keygen(int argc, char **argv)
{
    int force = 0;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            keygen_usage(stdout);
            return EX_OK;
        } else if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) {
            force = 1;
        } else if (argv[i][0] == '-' || name) {
            fprintf(stderr, "psync keygen: unexpected argument '%s'\n", argv[i]);
            keygen_usage(stderr);
            return EX_USAGE;
        } else {
            name = argv[i];
        }
    }
    if (!name || !*name) {
        keygen_usage(stderr);
        return EX_USAGE;
    }
    return keygen_write(name, force);
}
