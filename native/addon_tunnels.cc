// The Datapath's tunnels: the underlay sockets, each network's
// encapsulation (VNI or GRE key) and the remote VTEPs as tunnel ports.
#include <arpa/inet.h>

#include <stdexcept>

#include "addon.h"
#include "tunnel.h"
#include "wire.h"

namespace weft {

static uint32_t ParseIPv4(Napi::Env env, const std::string& text) {
  in_addr a;
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) throw Napi::Error::New(env, "malformed IPv4 address '" + text + "'");
  return a.s_addr;
}

// setUnderlay(localIp, vxlanPort): binds the tunnel sockets to the VTEP address.
Napi::Value Datapath::SetUnderlay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (underlay_) throw Napi::Error::New(env, "underlay already set");
  uint32_t ip = ParseIPv4(env, ArgString(info, 0, "localIp"));
  uint32_t port = ArgU32(info, 1, "vxlanPort");
  if (port == 0 || port > 65535) throw Napi::RangeError::New(env, "vxlanPort out of range");
  std::string egress = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  try {
    underlay_ = Underlay::Create(ip, static_cast<uint16_t>(port), egress);
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(env, e.what());
  }
  workers_[0]->WatchUnderlay(underlay_);
  return env.Undefined();
}

// attachXdp(ifname, vxlan, gre): reads and writes the underlay device
// through AF_XDP from now on (xdp_underlay.h), the sockets staying open
// beside it. Returns {queues, zeroCopy}; throws one line when the device or
// kernel cannot, having changed nothing.
Napi::Value Datapath::AttachXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (!underlay_) throw Napi::Error::New(env, "no underlay");
  if (underlay_->xdp() != nullptr) throw Napi::Error::New(env, "AF_XDP already attached");
  std::string ifname = ArgString(info, 0, "ifname");
  if (info.Length() < 3 || !info[1].IsBoolean() || !info[2].IsBoolean()) throw Napi::TypeError::New(env, "vxlan and gre must be booleans");
  bool vxlan = info[1].As<Napi::Boolean>().Value(), gre = info[2].As<Napi::Boolean>().Value();
  std::unique_ptr<XdpUnderlay> x;
  try {
    x = XdpUnderlay::Open(ifname, underlay_->local_ip(), underlay_->vxlan_port(), vxlan, gre);
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(env, e.what());
  }
  uint32_t queues = static_cast<uint32_t>(x->queues());
  bool zc = x->zero_copy();
  underlay_->AttachXdp(std::move(x));
  for (uint32_t q = 0; q < queues; q++) workers_[q % workers_.size()]->WatchXsk(underlay_, q);
  Napi::Object out = Napi::Object::New(env);
  out.Set("queues", queues);
  out.Set("zeroCopy", zc);
  return out;
}

// setNetworkEncap(network, encap (WEFT_ENCAPS), vni): which tunnel packets
// belong to the network. Before any tunnel port of the network.
Napi::Value Datapath::SetNetworkEncap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t network = ArgU32(info, 0, "network"), encap = ArgU32(info, 1, "encap"), vni = ArgU32(info, 2, "vni");
  if (encap != static_cast<uint32_t>(Encap::kVxlan) && encap != static_cast<uint32_t>(Encap::kGre)) {
    throw Napi::RangeError::New(env, "encap must be " + std::to_string(static_cast<int>(Encap::kVxlan)) + " (vxlan) or " +
                                         std::to_string(static_cast<int>(Encap::kGre)) + " (gre)");
  }
  if (encap == static_cast<uint32_t>(Encap::kVxlan) && vni > kMaxVxlanVni) throw Napi::RangeError::New(env, "a VXLAN VNI has 24 bits");
  uint64_t key = static_cast<uint64_t>(encap) << 32 | vni;
  auto used = fp_->Current()->vni_net.find(key);
  if (used != fp_->Current()->vni_net.end() && used->second != network) throw Napi::Error::New(env, "VNI in use by another network");
  fp_->Update([&](Tables& t) { t.SetNetworkKey(network, key); });
  net_encap_[network] = {static_cast<Encap>(encap), vni};
  return env.Undefined();
}

// clearNetworkEncap(network): the network is gone; its VNI is free again.
Napi::Value Datapath::ClearNetworkEncap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t network = ArgU32(info, 0, "network");
  fp_->Update([&](Tables& t) { t.ClearNetworkKey(network); });
  net_encap_.erase(network);
  return env.Undefined();
}

// addTunnelPort(id, network, remoteIp, flood, mtu, gbp?): a remote VTEP of
// the network; `gbp` when it takes VXLAN-GBP (ignored for GRE).
Napi::Value Datapath::AddTunnelPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network");
  uint32_t remote = ParseIPv4(env, ArgString(info, 2, "remoteIp"));
  if (info.Length() < 4 || !info[3].IsBoolean()) throw Napi::TypeError::New(env, "flood must be a boolean");
  bool flood = info[3].As<Napi::Boolean>().Value();
  uint32_t mtu = ArgU32(info, 4, "mtu");
  bool gbp = false;
  if (info.Length() > 5 && !info[5].IsUndefined()) {
    if (!info[5].IsBoolean()) throw Napi::TypeError::New(env, "gbp must be a boolean");
    gbp = info[5].As<Napi::Boolean>().Value();
  }
  if (!underlay_) throw Napi::Error::New(env, "no underlay: start the daemon with --underlay IP");
  auto enc = net_encap_.find(network);
  if (enc == net_encap_.end()) throw Napi::Error::New(env, "network has no encapsulation set");
  uint64_t vkey = static_cast<uint64_t>(network) << 32 | remote;
  auto& cur = *fp_->Current();
  if (cur.vtep_port.count(vkey)) throw Napi::Error::New(env, "VTEP already on this network");
  if (remote == underlay_->local_ip()) throw Napi::Error::New(env, "a VTEP cannot be this host's own underlay address");
  CheckPortArgs(env, id, network, mtu);
  auto port = std::make_shared<TunnelPort>(id, network, mtu, underlay_, enc->second.first, enc->second.second, remote, flood,
                                           gbp);
  fp_->Update([&](Tables& t) { t.AddTunnelPort(port); });
  return env.Undefined();
}

}  // namespace weft
