#!/usr/bin/env bash
# Runs a real-process check ("$@") with every weft process on the io_uring loop
# (WEFT_LOOP_BACKEND=io_uring, set by the examples.uring.* tests), or reports it skipped
# (77) where this kernel or sandbox refuses io_uring: io_uring_setup(2) with a null
# parameter block answers EFAULT when the call is allowed, ENOSYS or EPERM when it is not.
set -euo pipefail
answer=$(/usr/bin/python3 - <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(425, 1, None)  # io_uring_setup on x86-64 and arm64 alike
print(os.strerror(ctypes.get_errno()) if ctypes.get_errno() != 14 else "ok")
PY
)
if [[ $answer != ok ]]; then
  echo "uring_twin: SKIP: io_uring_setup refused here: $answer"
  exit 77
fi
exec "$@"
