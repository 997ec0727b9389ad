// Capture sessions: the workers' copy into rings, the writer thread, and
// the sinks (pcapng stream, mirror TAP). See capture.h.
#include "capture.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "checksum.h"
#include "headers.h"
#include "pcapng.h"
#include "sys.h"

namespace weft {

namespace {

// libpcap's compiler keeps global state: one compile at a time.
std::mutex compile_mu;

uint64_t RealtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Compiles `expr` for Ethernet (or raw IP) frames; empty on success, else libpcap's text.
std::string Compile(const std::string& expr, int linktype, uint32_t snaplen, bpf_program* prog) {
  std::lock_guard<std::mutex> lock(compile_mu);
  pcap_t* p = pcap_open_dead(linktype, static_cast<int>(snaplen));
  if (p == nullptr) return "pcap_open_dead failed";
  std::string err;
  if (pcap_compile(p, prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) err = pcap_geterr(p);
  pcap_close(p);
  if (err.empty()) return err;
  // One line: libpcap's messages are already short; keep them so.
  for (char& ch : err)
    if (ch == '\n') ch = ' ';
  return err;
}

// A mirror's TAP in this (the host's) namespace: not persistent, link up,
// never read. Its fd is non-blocking: a full queue drops the copy.
int OpenMirrorTap(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw std::runtime_error("bad interface name '" + name + "'");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw SysError("open /dev/net/tun");
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    auto err = SysError("create tap " + name);
    close(fd);
    throw err;
  }
  // A mirror port only receives copies: no IPv6 of its own (no link-local
  // address, no router solicitations of the host's on it). Best effort.
  int v6 = open(("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6").c_str(), O_WRONLY | O_CLOEXEC);
  if (v6 >= 0) {
    (void)!write(v6, "1", 1);
    close(v6);
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  bool up = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && ((ifr.ifr_flags |= IFF_UP), ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
  auto err = up ? std::runtime_error("") : SysError("bring up tap " + name);
  if (s >= 0) close(s);
  if (!up) {
    close(fd);
    throw err;
  }
  return fd;
}

}  // namespace

// ---- the ring ----

bool CaptureRing::Put(uint32_t port, uint8_t dir, uint64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t origlen) {
  const uint64_t need = (sizeof(Hdr) + caplen + 7) & ~uint64_t{7};
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  const uint64_t at = head % cap_;
  const uint64_t before_end = cap_ - at;
  const uint64_t pad = need > before_end ? before_end : 0;
  if (need + pad > cap_ - (head - tail)) return false;
  if (pad != 0) {
    auto* p = reinterpret_cast<Hdr*>(&buf_[at]);
    p->len = static_cast<uint32_t>(pad);
    p->port = kPad;
  }
  auto* h = reinterpret_cast<Hdr*>(&buf_[(head + pad) % cap_]);
  h->len = static_cast<uint32_t>(need);
  h->port = port;
  h->caplen = caplen;
  h->origlen = origlen;
  h->ts_ns = ts_ns;
  h->dir = dir;
  std::memcpy(h + 1, data, caplen);
  head_.store(head + pad + need, std::memory_order_release);
  return true;
}

const CaptureRing::Hdr* CaptureRing::Peek() {
  uint64_t tail = tail_.load(std::memory_order_relaxed);
  const uint64_t head = head_.load(std::memory_order_acquire);
  skip_ = 0;
  if (tail == head) return nullptr;
  auto* h = reinterpret_cast<const Hdr*>(&buf_[tail % cap_]);
  if (h->port == kPad) {
    skip_ = h->len;
    tail += skip_;
    if (tail == head) return nullptr;  // cannot happen: a pad is followed by its record
    h = reinterpret_cast<const Hdr*>(&buf_[tail % cap_]);
  }
  return h;
}

CaptureSession::~CaptureSession() {
  if (has_filter) pcap_freecode(&prog);
  if (fd >= 0) close(fd);
}

// ---- the workers' side ----

template <typename Get>
void Capture::Copy(size_t worker, uint32_t port, uint32_t net, uint8_t dir, int n, Get get, Counters& c) {
  const CaptureSet* set = set_.load(std::memory_order_acquire);
  uint64_t ts = 0;
  for (const auto& sp : set->sessions) {
    CaptureSession& s = *sp;
    if (!(s.dirs & dir) || !(s.Has(port) || s.HasNet(net)) || s.done.load(std::memory_order_relaxed)) continue;
    if (ts == 0) ts = RealtimeNs();  // once per batch: frames of one read share a time
    CaptureRing& ring = *s.rings[worker];
    for (int i = 0; i < n; i++) {
      const uint8_t* data;
      uint32_t len;
      get(i, &data, &len);
      if (s.count != 0 && s.copies.load(std::memory_order_relaxed) >= s.count) break;
      if (s.has_filter && bpf_filter(s.prog.bf_insns, data, len, len) == 0) continue;
      uint32_t caplen = len < s.snaplen ? len : s.snaplen;
      if (ring.Put(port, dir, ts, data, caplen, len)) {
        s.copies.fetch_add(1, std::memory_order_relaxed);
        s.bytes.fetch_add(caplen, std::memory_order_relaxed);
        c.Global(capture_copies);
      } else {
        s.dropped.fetch_add(1, std::memory_order_relaxed);
        c.Global(capture_dropped);
      }
    }
  }
}

void Capture::CopyRx(size_t worker, uint32_t port, uint32_t net, const Frame* frames, int n, Counters& c) {
  Copy(worker, port, net, kCapIn, n, [frames](int i, const uint8_t** d, uint32_t* l) {
    const Frame& f = frames[i];
    *d = f.buf + kVnetHdrLen;
    *l = f.len > kVnetHdrLen ? f.len - kVnetHdrLen : 0;
  }, c);
}

void Capture::CopyTx(size_t worker, uint32_t port, uint32_t net, Frame* const* frames, int n, Counters& c) {
  Copy(worker, port, net, kCapOut, n, [frames](int i, const uint8_t** d, uint32_t* l) {
    const Frame& f = *frames[i];
    *d = f.buf + kVnetHdrLen;
    *l = f.len > kVnetHdrLen ? f.len - kVnetHdrLen : 0;
  }, c);
}

void Capture::CopyUnderlay(size_t worker, uint8_t dir, const uint8_t* pkt, uint32_t len, Counters& c) {
  Copy(worker, 0, 0, dir, 1, [pkt, len](int, const uint8_t** d, uint32_t* l) {
    *d = pkt;
    *l = len;
  }, c);
}

thread_local CaptureThread capture_thread;

void Capture::CopyUnderlayIov(size_t worker, uint8_t dir, const iovec* iov, size_t n, Counters& c) {
  thread_local std::vector<uint8_t> pkt;
  pkt.clear();
  for (size_t i = 0; i < n; i++) pkt.insert(pkt.end(), static_cast<const uint8_t*>(iov[i].iov_base), static_cast<const uint8_t*>(iov[i].iov_base) + iov[i].iov_len);
  if (pkt.size() >= sizeof(Ipv4Hdr)) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(pkt.data());
    // A super-frame sent whole may be longer than IPv4 can say: capped.
    ip->tot_len.set(static_cast<uint16_t>(pkt.size() > 65535 ? 65535 : pkt.size()));
    ip->csum.set(0);
    ip->csum.set(CsumFold(CsumAdd(pkt.data(), ip->ihl())));
  }
  CopyUnderlay(worker, dir, pkt.data(), static_cast<uint32_t>(pkt.size()), c);
}

void Capture::CopyUnderlayUdp(size_t worker, uint8_t dir, uint32_t src_ip, uint16_t sport, uint32_t dst_ip, uint16_t dport,
                              const iovec* iov, size_t n, Counters& c) {
  uint8_t hdr[sizeof(Ipv4Hdr) + sizeof(UdpHdr)] = {};
  auto* ip = reinterpret_cast<Ipv4Hdr*>(hdr);
  auto* udp = reinterpret_cast<UdpHdr*>(hdr + sizeof(Ipv4Hdr));
  size_t payload = 0;
  for (size_t i = 0; i < n; i++) payload += iov[i].iov_len;
  ip->ver_ihl = kIpv4NoOptions;
  ip->ttl = 64;
  ip->proto = kIpProtoUdp;
  std::memcpy(ip->saddr, &src_ip, 4);
  std::memcpy(ip->daddr, &dst_ip, 4);
  std::memcpy(&udp->sport, &sport, 2);
  std::memcpy(&udp->dport, &dport, 2);
  udp->len.set(static_cast<uint16_t>(sizeof(UdpHdr) + payload));  // checksum 0, as VXLAN sends it
  iovec all[8];
  all[0] = {hdr, sizeof(hdr)};
  size_t k = 1;
  for (size_t i = 0; i < n && k < 8; i++) all[k++] = iov[i];
  CopyUnderlayIov(worker, dir, all, k, c);
}

// ---- the JavaScript thread's side ----

std::string Capture::CheckFilter(const std::string& expr, uint32_t snaplen) {
  bpf_program prog{};
  std::string err = Compile(expr, DLT_EN10MB, snaplen, &prog);
  if (err.empty()) pcap_freecode(&prog);
  return err;
}

uint32_t Capture::Start(const CaptureOptions& o, int* read_fd) {
  if (sessions_.size() >= kMaxSessions) throw std::runtime_error("too many capture sessions (at most 32)");
  auto s = std::make_shared<CaptureSession>();
  s->dirs = o.dirs;
  s->snaplen = o.snaplen;
  s->count = o.count;
  s->underlay = o.underlay;
  const int linktype = o.underlay ? DLT_RAW : DLT_EN10MB;
  s->linktype = o.underlay ? kLinktypeRaw : kLinktypeEthernet;
  if (!o.filter.empty()) {
    std::string err = Compile(o.filter, linktype, o.snaplen, &s->prog);
    if (!err.empty()) throw std::runtime_error(err);
    s->has_filter = true;
  }
  s->names = o.names;
  if (o.underlay) {
    s->ports[0] |= 1;  // the underlay captures as "port" 0
    s->names[0] = "underlay";
  }
  for (uint32_t p : o.ports) {
    if (p == 0 || p >= kMaxPorts) throw std::runtime_error("bad port id " + std::to_string(p));
    s->ports[p >> 6] |= uint64_t{1} << (p & 63);
  }
  if (!o.networks.empty()) s->nets.assign(kMaxNetworks / 64 + 1, 0);
  for (uint32_t n : o.networks) {
    if (n == 0 || n > kMaxNetworks) throw std::runtime_error("bad network id " + std::to_string(n));
    s->nets[n >> 6] |= uint64_t{1} << (n & 63);
  }
  // Split among the workers, each ring holding at least two whole 64 KiB
  // GSO frames: a smaller one would drop every super-frame.
  constexpr size_t kMinRing = 192 * 1024;
  size_t per_worker = o.ring_bytes / workers_;
  per_worker = per_worker < kMinRing ? kMinRing : per_worker & ~size_t{7};
  for (size_t w = 0; w < workers_; w++) s->rings.push_back(std::make_unique<CaptureRing>(per_worker));
  if (!o.tap.empty()) {
    s->fd = OpenMirrorTap(o.tap);
    s->tap = true;
    *read_fd = -1;
  } else {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) throw SysError("pipe");
    // The writer never blocks on a slow reader: what the pipe does not
    // take waits in the session's buffer, and its rings fill up and drop.
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);  // best effort: the default 64 KiB still works
    s->fd = fds[1];
    *read_fd = fds[0];
    PcapngSection(s->out);
    // The ports asked for by id are described up front, in that order
    // (interface 0, 1, ...); a network's ports when they first have a packet.
    std::vector<uint32_t> listed = o.ports;
    if (o.underlay) listed.insert(listed.begin(), 0);
    for (uint32_t p : listed) {
      if (!s->ifindex.try_emplace(p, static_cast<uint32_t>(s->ifindex.size())).second) continue;
      auto name = s->names.find(p);
      PcapngInterface(s->out, name != s->names.end() && !name->second.empty() ? name->second : "port" + std::to_string(p), s->linktype,
                      s->snaplen);
    }
  }
  s->id = next_id_++;
  sessions_[s->id] = s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writer_sessions_.push_back(s);
    if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  }
  cv_.notify_one();
  Publish();
  return s->id;
}

bool Capture::Stop(uint32_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  it->second->stopped.store(true);
  it->second->done.store(true);
  sessions_.erase(it);
  Publish();
  cv_.notify_one();
  return true;
}

bool Capture::Stats(uint32_t id, uint64_t* copies, uint64_t* dropped, uint64_t* bytes, bool* done) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  const CaptureSession& s = *it->second;
  *copies = s.copies.load();
  if (s.count != 0 && *copies > s.count) *copies = s.count;
  *dropped = s.dropped.load();
  *bytes = s.bytes.load();
  *done = s.done.load();
  return true;
}

void Capture::Publish() {
  auto* next = new CaptureSet();
  for (auto& [id, s] : sessions_) next->sessions.push_back(s);
  active_.store(static_cast<uint32_t>(next->sessions.size()), std::memory_order_relaxed);
  CaptureSet* old = set_.exchange(next);
  epochs_.Retire([old] { delete old; });
}

// Runs after the workers have stopped.
void Capture::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    writer_stop_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  writer_sessions_.clear();
  sessions_.clear();
  active_.store(0);
  delete set_.exchange(nullptr);
}

// ---- the writer thread ----

void Capture::WriterLoop() {
  std::vector<std::shared_ptr<CaptureSession>> mine;
  // How long to sleep when nothing moved: doubled while idle, up to 4 ms
  // (an 8 MiB ring holds that long at 10 Gbit/s), so a session whose filter
  // matches nothing wakes this thread 250 times a second, not 1000.
  int idle_us = 250;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (writer_stop_) return;
      mine = writer_sessions_;
    }
    bool worked = false;
    for (auto& s : mine) worked |= Drain(*s);
    // Sessions whose sink is closed are of no more use to the writer.
    std::unique_lock<std::mutex> lock(mu_);
    std::erase_if(writer_sessions_, [](const std::shared_ptr<CaptureSession>& s) { return s->fd < 0; });
    // Nothing moved: look again a little later (workers never signal, so a
    // copy costs them no syscall), or at once on start, stop or shutdown.
    if (worked) {
      idle_us = 250;
    } else if (!writer_stop_) {
      cv_.wait_for(lock, std::chrono::microseconds(idle_us));
      idle_us = idle_us < 4000 ? idle_us * 2 : 4000;
    }
  }
}

bool Capture::Drain(CaptureSession& s) {
  if (s.fd < 0) return false;
  bool worked = false;
  auto close_sink = [&s] {
    close(s.fd);
    s.fd = -1;
    s.done.store(true);
  };
  if (s.tap) {
    for (auto& ring : s.rings) {
      while (const CaptureRing::Hdr* h = ring->Peek()) {
        if (write(s.fd, h + 1, h->caplen) < 0) s.dropped.fetch_add(1, std::memory_order_relaxed);
        ring->Pop(h);
        worked = true;
      }
    }
    if (s.stopped.load()) close_sink();
    return worked;
  }
  // pcapng: fill the pending buffer from the rings (bounded), then write.
  constexpr size_t kOutMax = 256 * 1024;
  const bool stopped = s.stopped.load();
  for (auto& ring : s.rings) {
    while (s.out.size() - s.out_off < kOutMax && (s.count == 0 || s.written < s.count)) {
      const CaptureRing::Hdr* h = ring->Peek();
      if (h == nullptr) break;
      // A port's interface is described the first time it has a packet
      // (a network capture's ports may come later than its start).
      auto [it, fresh] = s.ifindex.try_emplace(h->port, static_cast<uint32_t>(s.ifindex.size()));
      if (fresh) {
        auto name = s.names.find(h->port);
        PcapngInterface(s.out, name != s.names.end() && !name->second.empty() ? name->second : "port" + std::to_string(h->port), s.linktype,
                        s.snaplen);
      }
      PcapngPacket(s.out, it->second, h->ts_ns, reinterpret_cast<const uint8_t*>(h + 1), h->caplen, h->origlen,
                   h->dir == kCapIn);
      ring->Pop(h);
      s.written++;
      worked = true;
    }
  }
  if (s.count != 0 && s.written >= s.count) s.done.store(true);
  while (s.out_off < s.out.size()) {
    ssize_t w = write(s.fd, s.out.data() + s.out_off, s.out.size() - s.out_off);
    if (w > 0) {
      s.out_off += static_cast<size_t>(w);
      worked = true;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    close_sink();  // EPIPE: the reader went away
    return true;
  }
  const bool counted_out = s.count != 0 && s.written >= s.count;
  bool drained = true;
  for (auto& ring : s.rings) drained = drained && ring->Peek() == nullptr;
  if (s.out_off == s.out.size()) {
    s.out.clear();
    s.out_off = 0;
    // Everything asked for (count), or everything copied before the stop,
    // is out: the reader sees EOF.
    if (counted_out || (stopped && drained)) {
      close_sink();
      return true;
    }
  }
  if (stopped) {
    // Stopped with a reader that does not keep up: it gets a second more,
    // then EOF without the rest.
    if (s.stopped_at == 0) s.stopped_at = NowMs();
    else if (NowMs() - s.stopped_at > 1000) close_sink();
  }
  return worked;
}

}  // namespace weft
