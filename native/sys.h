// System-call helpers the native files share: the one-line error a failed
// call becomes, and what a network interface says of itself (by ioctl).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

struct ifreq;

namespace weft {

// "what: strerror(errno)", for a call that just failed.
inline std::runtime_error SysError(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

// An interface request (SIOCGIFHWADDR, SIOCGIFMTU, SIOCETHTOOL...) about
// `ifname` in the calling thread's namespace, its name filled into `ifr`;
// false (errno set) when it fails.
bool InterfaceIoctl(const std::string& ifname, unsigned long request, ifreq& ifr);

// The MAC address of `ifname` into `mac`; false (errno set) when it cannot
// be read.
bool InterfaceMac(const std::string& ifname, uint8_t* mac);

// The MTU of `ifname` into `mtu`; false (errno set) when it cannot be read.
bool InterfaceMtu(const std::string& ifname, int* mtu);

}  // namespace weft
