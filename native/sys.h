// System-call helpers the native files share: the one-line error a failed
// call becomes, and what a network interface's own address is.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace weft {

// "what: strerror(errno)", for a call that just failed.
inline std::runtime_error SysError(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

// The MAC address of `ifname` in the calling thread's namespace into
// `mac`; false (errno set) when it cannot be read.
bool InterfaceMac(const std::string& ifname, uint8_t* mac);

}  // namespace weft
