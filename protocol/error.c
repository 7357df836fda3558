/* error.c: psync_strerror, the thread-local error detail, and the mapping
 * of error codes to sysexits.h exit codes. */
#include "error.h"

#include <stdio.h>
#include <sysexits.h>

static _Thread_local char error_detail[512];

static const char *const error_names[PSYNC_ERR_COUNT_] = {
    [PSYNC_OK] = "success",
    [PSYNC_ENOMEM] = "out of memory",
    [PSYNC_EINVAL] = "invalid argument",
    [PSYNC_ETRUNC] = "input truncated",
    [PSYNC_EFORMAT] = "malformed input",
    [PSYNC_EVERSION] = "unsupported version",
    [PSYNC_ELIMIT] = "limit exceeded",
    [PSYNC_EDTYPE] = "wrong dtype",
    [PSYNC_ESHAPE] = "wrong shape",
    [PSYNC_ENOTFOUND] = "not found",
    [PSYNC_EGRAPH] = "invalid graph",
    [PSYNC_ENONFINITE] = "non-finite value",
    [PSYNC_EMISMATCH] = "model layout mismatch",
    [PSYNC_EIO] = "I/O error",
    [PSYNC_ETIMEOUT] = "timed out",
    [PSYNC_EPROTO] = "protocol violation",
    [PSYNC_EAUTH] = "not authorised",
    [PSYNC_ESTALE] = "stale incarnation or version",
    [PSYNC_EBUSY] = "busy",
    [PSYNC_ECLOSED] = "closed",
    [PSYNC_ECONFIG] = "invalid configuration",
};

const char *psync_strerror(psync_err err)
{
    if ((unsigned)err >= PSYNC_ERR_COUNT_ || !error_names[err]) return "unknown error";
    return error_names[err];
}

const char *psync_errdetail(void)
{
    return error_detail;
}

psync_err psync_vfail(psync_err err, const char *fmt, va_list ap)
{
    vsnprintf(error_detail, sizeof error_detail, fmt, ap);
    return err;
}

psync_err psync_fail(psync_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    psync_vfail(err, fmt, ap);
    va_end(ap);
    return err;
}

void psync_errclear(void)
{
    error_detail[0] = '\0';
}

int psync_exit_code(psync_err err)
{
    switch (err) {
    case PSYNC_OK:
        return EX_OK;
    case PSYNC_EINVAL:
        return EX_USAGE;
    case PSYNC_ECONFIG:
        return EX_CONFIG;
    case PSYNC_ENOMEM:
        return EX_OSERR;
    case PSYNC_EIO:
        return EX_IOERR;
    case PSYNC_ENOTFOUND:
        return EX_NOINPUT;
    case PSYNC_ETIMEOUT:
    case PSYNC_EBUSY:
        return EX_TEMPFAIL;
    case PSYNC_ECLOSED:
        return EX_UNAVAILABLE;
    case PSYNC_EPROTO:
    case PSYNC_ESTALE:
        return EX_PROTOCOL;
    case PSYNC_EAUTH:
        return EX_NOPERM;
    default:
        return EX_DATAERR;
    }
}
