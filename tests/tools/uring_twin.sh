#!/usr/bin/env bash
# Runs a real-process check ("$@") with every weft process on the io_uring loop
# (WEFT_LOOP_BACKEND=io_uring, set by the examples.uring.* tests), or reports it skipped
# (77) where this kernel or sandbox refuses the ring weft's loop makes: io_uring_setup(2)
# with the flags of Ring::open (io/src/uring.hpp). A sandbox without io_uring answers ENOSYS
# or EPERM; a kernel before Linux 6.1 answers EINVAL (no IORING_SETUP_DEFER_TASKRUN).
set -euo pipefail
answer=$(/usr/bin/python3 - <<'PY'
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CQSIZE, SUBMIT_ALL, SINGLE_ISSUER, DEFER_TASKRUN = 1 << 3, 1 << 7, 1 << 12, 1 << 13
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
struct.pack_into("=III", params, 0, 0, 8, CQSIZE | SUBMIT_ALL | SINGLE_ISSUER | DEFER_TASKRUN)
fd = libc.syscall(425, 4, params)  # io_uring_setup on x86-64 and arm64 alike
if fd < 0:
    print(os.strerror(ctypes.get_errno()))
else:
    os.close(fd)
    print("ok")
PY
)
if [[ $answer != ok ]]; then
  echo "uring_twin: SKIP: io_uring_setup refused here: $answer"
  exit 77
fi
exec "$@"
