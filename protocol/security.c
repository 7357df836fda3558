/* security.c: the psync_security object: which side of CURVE a process is
 * (server with a ZAP handler and allow-list, client with the server's key,
 * or explicitly plain) and the socket options that follow from it. */
#include "security.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "zap.h"

/* ZMQ_ZAP_ENFORCE_DOMAIN is a draft option in libzmq 4.3 headers, but the
 * library accepts it; without it a domain with no handler admits anyone. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

typedef enum security_kind { SECURITY_PLAIN, SECURITY_SERVER, SECURITY_CLIENT } security_kind;

struct psync_security {
    security_kind kind;
    int allow_remote;                       /* plain only */
    psync_keypair own;                      /* server, client */
    char server_key[PSYNC_KEY_Z85_LEN + 1]; /* client */
    psync_allowlist *allow;                 /* server */
    psync_zap *zap;                         /* server */
};

/* Sets one socket option, turning a failure into PSYNC_EIO. */
static psync_err security_opt(void *socket, int opt, const void *val, size_t len, const char *what)
{
    if (zmq_setsockopt(socket, opt, val, len) == 0) return PSYNC_OK;
    return psync_fail(PSYNC_EIO, "setting %s: %s", what, zmq_strerror(zmq_errno()));
}

/* Server side: CURVE server, secret key, domain "psync", enforced. */
static psync_err security_apply_server(const psync_security *sec, void *s)
{
    int one = 1;
    psync_err err = security_opt(s, ZMQ_CURVE_SERVER, &one, sizeof one, "ZMQ_CURVE_SERVER");
    if (!err)
        err = security_opt(s, ZMQ_CURVE_SECRETKEY, sec->own.secret_key, PSYNC_KEY_Z85_LEN,
                           "ZMQ_CURVE_SECRETKEY");
    if (!err)
        err = security_opt(s, ZMQ_ZAP_DOMAIN, PSYNC_ZAP_DOMAIN, strlen(PSYNC_ZAP_DOMAIN),
                           "ZMQ_ZAP_DOMAIN");
    if (!err && zmq_setsockopt(s, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0)
        err = psync_fail(PSYNC_ECONFIG,
                         "this libzmq cannot enforce the ZAP domain (%s): "
                         "a stopped handler would admit anyone",
                         zmq_strerror(zmq_errno()));
    return err;
}

/* Client side: the server's key and our own pair. */
static psync_err security_apply_client(const psync_security *sec, void *s)
{
    psync_err err = security_opt(s, ZMQ_CURVE_SERVERKEY, sec->server_key, PSYNC_KEY_Z85_LEN,
                                 "ZMQ_CURVE_SERVERKEY");
    if (!err)
        err = security_opt(s, ZMQ_CURVE_PUBLICKEY, sec->own.public_key, PSYNC_KEY_Z85_LEN,
                           "ZMQ_CURVE_PUBLICKEY");
    if (!err)
        err = security_opt(s, ZMQ_CURVE_SECRETKEY, sec->own.secret_key, PSYNC_KEY_Z85_LEN,
                           "ZMQ_CURVE_SECRETKEY");
    return err;
}

/* Plain: loopback only, unless remote plain was chosen explicitly. */
static psync_err security_apply_plain(const psync_security *sec, const char *endpoint)
{
    if (!psync_security_required(endpoint)) return PSYNC_OK;
    if (!sec->allow_remote)
        return psync_fail(PSYNC_ECONFIG,
                          "refusing %s without CURVE: it is not loopback; give a key pair and "
                          "allow-list, or choose remote plain mode explicitly",
                          endpoint ? endpoint : "(null)");
    PSYNC_WARN("security_disabled", "endpoint=%s reason=\"plain mode on a non-loopback endpoint\"",
               endpoint);
    return PSYNC_OK;
}

psync_err psync_security_apply(psync_security *sec, void *socket, const char *endpoint)
{
    if (!sec || !socket) return psync_fail(PSYNC_EINVAL, "psync_security_apply: NULL argument");
    switch (sec->kind) {
    case SECURITY_SERVER:
        return security_apply_server(sec, socket);
    case SECURITY_CLIENT:
        return security_apply_client(sec, socket);
    default:
        return security_apply_plain(sec, endpoint);
    }
}

/* Probes that libzmq has CURVE and accepts domain enforcement. */
static psync_err security_probe(void *ctx)
{
    if (!zmq_has("curve")) return psync_fail(PSYNC_ECONFIG, "this libzmq was built without CURVE");
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    if (!s) return psync_fail(PSYNC_EIO, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int one = 1;
    int rc = zmq_setsockopt(s, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one);
    zmq_close(s);
    return rc ? psync_fail(PSYNC_ECONFIG, "this libzmq cannot enforce the ZAP domain; "
                                          "refusing to run a server that could fail open")
              : PSYNC_OK;
}

psync_err psync_security_server_new(psync_security **out, void *zmq_ctx, const psync_keypair *own,
                                    psync_allowlist *allow)
{
    *out = NULL;
    psync_security *sec = calloc(1, sizeof *sec);
    psync_err err = sec ? security_probe(zmq_ctx) : psync_fail(PSYNC_ENOMEM, "security");
    if (!err)
        err = psync_key_decode(own->public_key, NULL) ? PSYNC_EFORMAT
                                                      : psync_key_decode(own->secret_key, NULL);
    if (err) {
        free(sec);
        psync_allowlist_destroy(&allow);
        return err;
    }
    sec->kind = SECURITY_SERVER;
    sec->own = *own;
    sec->allow = allow;
    err = psync_zap_start(zmq_ctx, sec->allow, &sec->zap);
    if (err) {
        psync_security_destroy(&sec);
        return err;
    }
    PSYNC_INFO("security_curve", "role=server key=\"%s\" allowed=%zu", own->public_key,
               psync_allowlist_count(allow));
    *out = sec;
    return PSYNC_OK;
}

psync_err psync_security_server_from_files(psync_security **out, void *zmq_ctx,
                                           const char *key_file, const char *allow_path)
{
    *out = NULL;
    psync_keypair kp;
    psync_allowlist *allow = NULL;
    psync_err err = psync_keypair_load(key_file, &kp);
    if (!err) err = psync_allowlist_load(allow_path, &allow);
    if (!err) err = psync_security_server_new(out, zmq_ctx, &kp, allow);
    memset(&kp, 0, sizeof kp);
    return err;
}

psync_err psync_security_client_new(psync_security **out, const psync_keypair *own,
                                    const char *server_public_z85)
{
    *out = NULL;
    psync_err err = psync_key_decode(own->public_key, NULL);
    if (!err) err = psync_key_decode(own->secret_key, NULL);
    if (!err && psync_key_decode(server_public_z85, NULL))
        err = psync_fail(PSYNC_EFORMAT, "server public key is not %d Z85 characters",
                         PSYNC_KEY_Z85_LEN);
    if (err) return err;
    psync_security *sec = calloc(1, sizeof *sec);
    if (!sec) return psync_fail(PSYNC_ENOMEM, "security");
    sec->kind = SECURITY_CLIENT;
    sec->own = *own;
    memcpy(sec->server_key, server_public_z85, PSYNC_KEY_Z85_LEN + 1);
    PSYNC_INFO("security_curve", "role=client key=\"%s\" server_key=\"%s\"", own->public_key,
               server_public_z85);
    *out = sec;
    return PSYNC_OK;
}

psync_err psync_security_client_from_files(psync_security **out, const char *key_file,
                                           const char *server_pub_file)
{
    *out = NULL;
    psync_keypair kp;
    char server[PSYNC_KEY_Z85_LEN + 1];
    psync_err err = psync_keypair_load(key_file, &kp);
    if (!err) err = psync_pubkey_load(server_pub_file, server);
    if (!err) err = psync_security_client_new(out, &kp, server);
    memset(&kp, 0, sizeof kp);
    return err;
}

psync_err psync_security_plain_new(psync_security **out, int allow_remote)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return psync_fail(PSYNC_ENOMEM, "security");
    (*out)->kind = SECURITY_PLAIN;
    (*out)->allow_remote = allow_remote;
    PSYNC_WARN("security_disabled",
               "remote=%d reason=\"plain mode chosen: no encryption, no "
               "authentication\"",
               allow_remote ? 1 : 0);
    return PSYNC_OK;
}

bool psync_security_is_plain(const psync_security *sec)
{
    return !sec || sec->kind == SECURITY_PLAIN;
}

const char *psync_security_public_key(const psync_security *sec)
{
    return sec ? sec->own.public_key : "";
}

void psync_security_counts_get(const psync_security *sec, psync_security_counts *out)
{
    psync_zap_counts(sec ? sec->zap : NULL, &out->accepted, &out->denied);
}

void psync_security_destroy(psync_security **sec)
{
    if (!sec || !*sec) return;
    psync_zap_stop(&(*sec)->zap);
    psync_allowlist_destroy(&(*sec)->allow);
    memset(*sec, 0, sizeof **sec);
    free(*sec);
    *sec = NULL;
}
