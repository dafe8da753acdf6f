// Whether this machine's kernel offers TLS offload (kTLS): the "tls" upper layer protocol
// that a connected TCP socket takes with setsockopt(TCP_ULP). The sans-I/O TLS layer
// (weft/io/tls.hpp) encrypts in user space and does not need it; a driver could hand the
// record keys to the kernel where it exists. This probe is the only kTLS code so far.
#pragma once

#include <string>

namespace weft::io {

struct KernelTlsProbe {
  bool available = false;
  // What happened: "TCP_ULP tls accepted", or the step that failed and errno's text
  // ("setsockopt(TCP_ULP, tls): No such file or directory" when the kernel has no tls
  // module).
  std::string detail;
};

// Connects a TCP socket to a listener on 127.0.0.1 (an ephemeral port), sets TCP_ULP "tls"
// on it and closes both. Thread-safe; takes a few descriptors for a moment.
KernelTlsProbe probe_kernel_tls();

}  // namespace weft::io
