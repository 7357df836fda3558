/* error.h: the one error enum of psync and its thread-local detail text.
 * Every fallible function returns psync_err; PSYNC_OK is 0. A function that
 * fails may leave a human-readable detail ("tensor 'fc1.w': shape [3,4] does
 * not match [4,3]") readable with psync_errdetail() on the same thread. */
#ifndef PSYNC_ERROR_H
#define PSYNC_ERROR_H

#include <stdarg.h>

typedef enum psync_err {
    PSYNC_OK = 0,
    PSYNC_ENOMEM,     /* allocation failed */
    PSYNC_EINVAL,     /* bad argument from the caller (usage error) */
    PSYNC_ETRUNC,     /* input ends before a declared length or count */
    PSYNC_EFORMAT,    /* input is not the expected msgpack shape */
    PSYNC_EVERSION,   /* unknown format or protocol version */
    PSYNC_ELIMIT,     /* a size, count or rank exceeds a declared limit */
    PSYNC_EDTYPE,     /* wrong or unknown dtype */
    PSYNC_ESHAPE,     /* wrong shape */
    PSYNC_ENOTFOUND,  /* no such tensor, node, key or file */
    PSYNC_EGRAPH,     /* invalid graph: unknown op, dangling input, cycle */
    PSYNC_ENONFINITE, /* NaN or Inf where finite numbers are required */
    PSYNC_EMISMATCH,  /* graph hash or layout differs from the expected one */
    PSYNC_EIO,        /* read/write/socket failure (errno in the detail) */
    PSYNC_ETIMEOUT,   /* a deadline passed */
    PSYNC_EPROTO,     /* protocol violation by a peer */
    PSYNC_EAUTH,      /* peer not authenticated or not allowed */
    PSYNC_ESTALE,     /* stale incarnation, epoch or version */
    PSYNC_EBUSY,      /* resource busy, try again later */
    PSYNC_ECLOSED,    /* peer or context closed / shutting down */
    PSYNC_ECONFIG,    /* invalid configuration */
    PSYNC_ERR_COUNT_
} psync_err;

/* Short fixed description of an error code; never NULL. */
const char *psync_strerror(psync_err err);

/* Detail text of the last failure recorded on this thread ("" if none).
 * Valid until the next psync_fail() on this thread. */
const char *psync_errdetail(void);

/* Records a printf-style detail for err on this thread and returns err, so
 * callers write `return psync_fail(PSYNC_ESHAPE, "tensor '%s' ...", n);`. */
psync_err psync_fail(psync_err err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
psync_err psync_vfail(psync_err err, const char *fmt, va_list ap);

/* Clears the detail text of this thread. */
void psync_errclear(void);

/* Maps an error to a sysexits.h exit code (EX_DATAERR, EX_UNAVAILABLE...). */
int psync_exit_code(psync_err err);

#endif
