// A worker thread: waits on its ports with epoll, reads them in batches,
// switches each frame against the current fast-path snapshot and sends the
// results in batches. Its methods are spread by job: the loop, batching and
// event hand-off (worker.cc), L2 switching (l2_switch.cc), proxy ARP
// (proxy_arp.cc), tunnel receive (tunnel_rx.cc) and the uplink trunks' VLAN
// demux (uplink_rx.cc). Only events leave for JavaScript, never packets, with
// one exception: frames sent to a service port (port_service.h), which are
// in-band DNS queries.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "events.h"
#include "fastpath.h"
#include "coalesce.h"
#include "conntrack.h"
#include "drop_ring.h"
#include "policy_log.h"
#include "policy_tables.h"
#include "tunnel.h"

#include "capture.h"

namespace weft {

class UplinkPort;

struct Seen {
  uint32_t port;
  double at;
};

// What the policy stage (policy_stage.cc) shares with the Datapath: one
// conntrack for all workers, the deny log (null when JavaScript takes no
// records), and this worker's own block of per-slot counters
// (kPolicySlots * kPolCountStride words, written by this worker alone).
struct PolicyContext {
  Conntrack* ct = nullptr;
  PolicyLog* log = nullptr;
  uint64_t* slots = nullptr;
};

// A non-first IPv4 fragment's packet: (network, source, destination, IP id,
// protocol).
struct FragKey {
  uint32_t network, src, dst;
  uint16_t id;
  uint8_t proto;
  bool operator==(const FragKey& o) const {
    return network == o.network && src == o.src && dst == o.dst && id == o.id && proto == o.proto;
  }
};
struct FragKeyHash {
  size_t operator()(const FragKey& k) const {
    uint64_t h = (static_cast<uint64_t>(k.src) << 32 | k.dst) * 0x9e3779b97f4a7c15ULL;
    return h ^ (static_cast<uint64_t>(k.network) << 24 | static_cast<uint64_t>(k.id) << 8 | k.proto);
  }
};

class Worker {
 public:
  // busy_poll_us: how long to keep polling after work before sleeping.
  // port_security: guarded ports' frames are checked (port_guard.h).
  Worker(size_t index, FastPath& fp, EventQueue& events, uint64_t* counters,
         std::atomic<double>* hits, double busy_poll_us, bool port_security = true, PolicyContext policy = {});
  ~Worker();

  void Start();
  void Stop();
  // Called from the JavaScript thread.
  void Watch(uint32_t port_id, int fd);
  void Unwatch(int fd);
  // Receives tunnel packets on this worker from now on.
  void WatchUnderlay(std::shared_ptr<Underlay> ul);
  // Reads the AF_XDP socket of `queue` of the underlay's XDP path (each
  // queue is read by one worker: the device keeps a flow on one queue).
  void WatchXsk(std::shared_ptr<Underlay> ul, uint32_t queue);
  // Feeds Ethernet frames into the switch as if `port_id` had received them
  // (diagnostics, parser tests, and a service port's answers): one lock and
  // one wake for the lot.
  void InjectMany(uint32_t port_id, std::vector<std::vector<uint8_t>> frames);

  // Observation (weft dp dump, weft stats drops): this worker's row of
  // fast-path hit counters (fib_hits.h), set before Start; and its last
  // drops, which any thread may read.
  void SetFibHits(uint64_t* row) { fib_hits_ = row; }
  const DropRing& drops() const { return drops_; }
  // Packet capture (capture.h): set once, before Start.
  void SetCapture(Capture* capture) { capture_ = capture; }

 private:
  // What an epoll event is about: a port (its id, below kMaxPorts) or one of these.
  // kXsk + q: the AF_XDP socket of receive queue q.
  enum Source : uint32_t { kWake = UINT32_MAX, kVxlan = UINT32_MAX - 1, kGre = UINT32_MAX - 2, kXsk = UINT32_MAX - 64 };
  static constexpr uint32_t kXskMax = 32;
  static_assert(kMaxPorts < kXsk && kXsk + kXskMax < kGre, "port ids and epoll sources do not overlap");
  // Rounds of kBatch frames taken from one port before the others get a turn.
  static constexpr int kRoundsPerPort = 4;

  // worker.cc: the loop, injected frames, the output queues.
  void Run();
  void RunInjected(const Tables& t, double now);
  void LoadInjected(Frame& f, const std::vector<uint8_t>& bytes);
  void Enqueue(uint32_t port, Frame* f);
  void Flush(const Tables& t);
  // l2_switch.cc
  void Switch(const Tables& t, const Port& in, Frame* frames, int n, double now);
  void Learn(const Tables& t, uint32_t net, const uint8_t* src, uint32_t in, double now);
  void Flood(const Tables& t, const Port& in, Frame* f);
  // Whether an event for `key` should go up now: once until answered, again
  // after kReportAgainMs.
  bool FirstReport(std::unordered_map<uint64_t, Seen>& sent, const Tables& t, uint64_t key, uint32_t port, double now);
  // policy_stage.cc: whether a frame of an enforced network may go on
  // (counting the drop by reason when not); sets f.gbp to its source group.
  bool PolicyStep(const Tables& t, const PolicyTables& pt, const Port& in, Frame& f, double now);
  // Once per wakeup: a little conntrack aging, and the deny records out.
  void PolicyWakeup(double now);
  // proxy_arp.cc: answers an ARP request from a local port by proxy.
  bool ProxyArp(const Tables& t, const Port& in, Frame& f);
  // uplink_rx.cc: reads a trunk and switches each run of frames of one
  // owned VLAN as that VLAN port's.
  void RxUplink(const Tables& t, UplinkPort& trunk, double now);
  // tunnel_rx.cc
  void RxTunnel(const Tables& t, Encap encap, double now);
  // The same for the frames an AF_XDP socket got (outer Ethernet and IPv4).
  void RxXsk(const Tables& t, uint32_t queue, double now);
  // One round's decapped_ joined where it can be, switched and sent.
  void SwitchDecapped(const Tables& t, double now);
  // One datagram off the underlay: its inner frame, if it belongs to a
  // known network and VTEP, goes to decapped_.
  void Decap(const Tables& t, Encap encap, uint8_t* base, uint32_t len, uint32_t from, bool room_before, bool truncated);
  // Queued here during a batch, pushed to JavaScript at its end.
  void QueueEvent(EventType type, const uint8_t* mac, uint32_t net, uint32_t port);
  // A tunnel packet refused after its header was read: the inner frame is noted.
  void NoteTunnelDrop(DropReason why, uint32_t net, const uint8_t* inner, uint32_t len, uint32_t vtep) {
    counters_.Drop(why);
    DropNote n = SummarizeDrop(NowMs(), why, 0, net, inner, len);
    n.vtep = vtep;
    drops_.Push(n);
  }
  // Counts a drop by reason and notes the frame in the drop ring.
  void DropFrame(DropReason why, uint32_t port, uint32_t net, const Frame& f) {
    counters_.Drop(why);
    drops_.Push(SummarizeDrop(NowMs(), why, port, net, f.buf + kVnetHdrLen, f.len > kVnetHdrLen ? f.len - kVnetHdrLen : 0));
  }
  void PushEvents();

  size_t index_;
  FastPath& fp_;
  EventQueue& events_;
  Counters counters_;
  std::atomic<double>* hits_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> stop_{false};
  const double busy_poll_ms_;
  const bool port_security_;
  std::thread thread_;

  std::vector<uint8_t> bufs_;
  Frame frames_[kBatch];
  std::vector<Decapped> decapped_;  // one round of tunnel datagrams, decapsulated
  std::vector<Outgoing> outgoing_;  // what of them is switched (joined or not)
  Coalescer coalescer_;
  std::shared_ptr<Underlay> underlay_;
  std::vector<std::vector<Frame*>> tx_;  // per output port id
  std::vector<uint32_t> dirty_;          // ports with something in tx_
  std::vector<Event> pending_events_;
  // Learn and miss events already sent and not yet answered by a table
  // update: a MAC is reported once, not once per frame.
  std::unordered_map<uint64_t, Seen> reported_;
  std::unordered_map<uint64_t, Seen> missed_;

  // Group policy (policy_stage.cc).
  PolicyContext policy_;
  std::vector<PolicyLogRecord> pending_log_;
  // Non-first IPv4 fragments of packets whose first fragment passed:
  // (network, src, dst, id, proto) -> until when (ms).
  std::unordered_map<FragKey, double, FragKeyHash> frag_ok_;

  // Observation: hits per fast-path entry, the last drops.
  uint64_t* fib_hits_ = nullptr;
  DropRing drops_;
  // Packet capture (capture.h): checked once per batch, per direction;
  // tunnel_rx.cc: the underlay's received packets, for an underlay capture.
  Capture* capture_ = nullptr;
  void CaptureUnderlayRx(Encap encap, const uint8_t* p, uint32_t total, uint32_t gso, const sockaddr_in& from);

  std::mutex inject_mu_;
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> injected_;
};

}  // namespace weft
