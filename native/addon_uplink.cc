// The Datapath's uplink trunks and their VLAN ports (issue 17,
// port_uplink.h): a trunk is read by a worker and belongs to no network;
// a VLAN port is one VID of one trunk on one network.
#include <stdexcept>

#include "addon.h"
#include "port_uplink.h"

namespace weft {

// addUplinkPort(id, ifname)
Napi::Value Datapath::AddUplinkPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t id = ArgU32(info, 0, "id");
  std::string ifname = ArgString(info, 1, "ifname");
  if (id == 0 || id >= kMaxPorts) throw Napi::RangeError::New(env, "port id must be 1.." + std::to_string(kMaxPorts - 1));
  if (fp_->Current()->port(id) != nullptr) throw Napi::Error::New(env, "port id " + std::to_string(id) + " in use");
  try {
    // In no flood list and never an fdb target: it only receives.
    AddPort(env, UplinkPort::Create(id, ifname), false);
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

// addVlanPort(id, network, uplinkId, vlan, mtu)
Napi::Value Datapath::AddVlanPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network"), uplink = ArgU32(info, 2, "uplinkId");
  uint32_t vlan = ArgU32(info, 3, "vlan"), mtu = ArgU32(info, 4, "mtu");
  CheckPortArgs(env, id, network, mtu);
  if (vlan < 1 || vlan > kMaxVid) throw Napi::RangeError::New(env, "vlan must be 1.." + std::to_string(kMaxVid));
  const Tables& t = *fp_->Current();
  Port* up = uplink < kMaxPorts ? t.port(uplink) : nullptr;
  UplinkPort* trunk = up != nullptr ? up->as_trunk() : nullptr;
  if (trunk == nullptr) throw Napi::Error::New(env, "port " + std::to_string(uplink) + " is not an uplink port");
  auto have = t.vlan_port.find(VlanPort::Key(uplink, vlan));
  if (have != t.vlan_port.end()) {
    throw Napi::Error::New(env, "uplink port " + std::to_string(uplink) + " already has VLAN " + std::to_string(vlan) +
                                    " (port " + std::to_string(have->second) + ")");
  }
  // Two VLANs of one trunk on one network would bridge the two VLANs
  // through weft (and their floods would loop back out of the trunk).
  for (const auto& [key, other] : t.vlan_port) {
    const Port* o = t.port(other);
    if (key >> 32 == uplink && o != nullptr && o->network() == network) {
      throw Napi::Error::New(env, "network " + std::to_string(network) + " already has VLAN " +
                                      std::to_string(key & 0xffff) + " of uplink port " + std::to_string(uplink) +
                                      " (port " + std::to_string(other) + ")");
    }
  }
  // The trunk's shared_ptr, so the VLAN port keeps its socket open.
  std::shared_ptr<UplinkPort> shared(t.ports[uplink], trunk);
  auto port = std::make_shared<VlanPort>(id, network, mtu, std::move(shared), static_cast<uint16_t>(vlan));
  fp_->Update([&](Tables& tt) { tt.AddVlanPort(port); });
  return env.Undefined();
}

}  // namespace weft
