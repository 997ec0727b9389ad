#include "sys.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace weft {

bool InterfaceMac(const std::string& ifname, uint8_t* mac) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  bool ok = ioctl(s, SIOCGIFHWADDR, &ifr) == 0;
  int err = errno;
  close(s);
  errno = err;
  if (ok) std::memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  return ok;
}

}  // namespace weft
