/* secopts.c: turns a client's security settings (key file, server key,
 * insecure_plain, with PSYNC_* environment fallbacks) into a
 * psync_security object; see secopts.h. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secopts.h"

static const char *secopts_env(const char *v, const char *env)
{
    const char *e = getenv(env);
    return v && *v ? v : e && *e ? e : NULL;
}

static bool secopts_plain_ok(bool insecure_plain)
{
    const char *ins = getenv("PSYNC_INSECURE_PLAIN");
    return insecure_plain || (ins && (!strcmp(ins, "1") || !strcmp(ins, "true")));
}

/* CURVE client from our key pair file and the server key (Z85 or file). */
static psync_err secopts_curve(psync_security **out, const char *key, const char *srv)
{
    psync_keypair kp;
    char server[PSYNC_KEY_Z85_LEN + 1];
    psync_err e;
    bool z85 = strlen(srv) == PSYNC_KEY_Z85_LEN && !psync_key_decode(srv, NULL);
    if (!z85 && (e = psync_pubkey_load(srv, server))) return e;
    if ((e = psync_keypair_load(key, &kp))) return e;
    e = psync_security_client_new(out, &kp, z85 ? srv : server); /* logs security_curve */
    memset(&kp, 0, sizeof kp);
    return e;
}

psync_err psync_secopts_client(psync_security **out, const char *key_file, const char *server_key,
                               bool insecure_plain, const char *endpoint, const char *endpoint2)
{
    const char *key = secopts_env(key_file, "PSYNC_KEY_FILE");
    const char *srv = secopts_env(server_key, "PSYNC_SERVER_KEY");
    bool remote =
        psync_security_required(endpoint) || (endpoint2 && psync_security_required(endpoint2));
    *out = NULL;
    if (!key != !srv)
        return psync_fail(PSYNC_ECONFIG,
                          "CURVE needs both --key-file (ours, psync keygen NAME) and "
                          "--server-key (psyncd's .pub file or Z85 key); got only %s",
                          key ? "key_file" : "server_key");
    if (key) return secopts_curve(out, key, srv);
    if (remote && !secopts_plain_ok(insecure_plain))
        return psync_fail(PSYNC_ECONFIG,
                          "daemon %s is not loopback: give --key-file and "
                          "--server-key (docs/security.md) or, knowingly, --insecure-plain",
                          endpoint);
    PSYNC_WARN("security", "mode=plain remote=%s endpoint=%s", remote ? "true" : "false", endpoint);
    return psync_security_plain_new(out, remote);
}
