"""peerkit.py: what the Python peers of psync's benchmarks share: the
OpenBLAS core and thread count torch runs on, and the allocator setting that
keeps large freed blocks in the heap (as psync's side reuses its buffers)."""
import ctypes
import os


def keep_heap():
    """Large frees stay in the heap instead of being unmapped and faulted in
    again (first touch runs at ~0.35 GB/s on these machines)."""
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 62)


def openblas_env():
    """'openblas_core=... blas_threads=... OPENBLAS_CORETYPE=...' as seen by
    the OpenBLAS that torch loaded (or 'openblas_core=none')."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
        threads = lib.openblas_get_num_threads()
    except OSError:
        core, threads = "none", 0
    coretype = os.environ.get("OPENBLAS_CORETYPE") or "unset"
    return f"openblas_core={core} blas_threads={threads} OPENBLAS_CORETYPE={coretype}"


def set_blas_threads(n):
    """openblas_set_num_threads(n) on the OpenBLAS torch loaded (torch's own
    set_num_threads does not reach OpenBLAS's pthread pool)."""
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(n)
    except OSError:
        pass
