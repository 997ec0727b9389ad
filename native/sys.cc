#include "sys.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace weft {

bool InterfaceIoctl(const std::string& ifname, unsigned long request, ifreq& ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  std::memset(ifr.ifr_name, 0, sizeof(ifr.ifr_name));
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  bool ok = ioctl(s, request, &ifr) == 0;
  int err = errno;
  close(s);
  errno = err;
  return ok;
}

bool InterfaceMac(const std::string& ifname, uint8_t* mac) {
  ifreq ifr{};
  if (!InterfaceIoctl(ifname, SIOCGIFHWADDR, ifr)) return false;
  std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return true;
}

bool InterfaceMtu(const std::string& ifname, int* mtu) {
  ifreq ifr{};
  if (!InterfaceIoctl(ifname, SIOCGIFMTU, ifr)) return false;
  *mtu = ifr.ifr_mtu;
  return true;
}

}  // namespace weft
