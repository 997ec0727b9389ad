// Packet capture and mirroring: sessions that copy what ports receive and
// send (filtered by a libpcap-compiled BPF program) into bounded rings, one
// ring per (session, worker) so a worker never waits for anyone: a full ring
// drops the copy and counts it. One writer thread per datapath drains the
// rings into each session's sink: a pcapng stream (a pipe JavaScript reads)
// or a TAP device (a mirror, frames written raw, never read).
//
// With no session, a worker pays one relaxed atomic load per batch
// (Capture::active). Sessions are published to workers as an immutable set,
// retired through the fast path's epochs like a tables snapshot.
#pragma once

#include <pcap/pcap.h>
#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "fastpath.h"
#include "port.h"

namespace weft {

enum CaptureDir : uint8_t { kCapIn = 1, kCapOut = 2 };

// A single-producer single-consumer byte ring of records (the worker writes,
// the writer thread reads). Records are 8-byte aligned; one that does not
// fit before the end is preceded by a pad record and starts at 0.
class CaptureRing {
 public:
  struct Hdr {
    uint32_t len;  // whole record, header and padding included
    uint32_t port; // kPad: skip
    uint32_t caplen;
    uint32_t origlen;
    uint64_t ts_ns;
    uint8_t dir;
    uint8_t pad[7];
  };
  static constexpr uint32_t kPad = UINT32_MAX;
  explicit CaptureRing(size_t cap) : buf_(cap), cap_(cap) {}
  // Producer: false when it does not fit (the caller counts the drop).
  bool Put(uint32_t port, uint8_t dir, uint64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t origlen);
  // Consumer: the next record, or null; Pop() after using it.
  const Hdr* Peek();
  void Pop(const Hdr* h) { tail_.store(tail_.load(std::memory_order_relaxed) + skip_ + h->len, std::memory_order_release); skip_ = 0; }

 private:
  std::vector<uint8_t> buf_;
  size_t cap_;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t skip_ = 0;  // consumer: pad bytes before the record Peek returned
};

struct CaptureSession {
  ~CaptureSession();
  uint32_t id = 0;
  uint8_t dirs = kCapIn | kCapOut;
  uint32_t snaplen = 262144;
  uint64_t count = 0;  // 0: unlimited
  bool underlay = false;
  bool has_filter = false;
  bpf_program prog{};
  // Captured ports (a bit per port id), and networks (every port of them,
  // those added later too; empty when none).
  std::vector<uint64_t> ports = std::vector<uint64_t>(kMaxPorts / 64);
  std::vector<uint64_t> nets;
  // pcapng: interface names by port, and (writer) the interface ids given so far.
  std::map<uint32_t, std::string> names;
  std::map<uint32_t, uint32_t> ifindex;
  uint16_t linktype = 1;
  std::vector<std::unique_ptr<CaptureRing>> rings;  // one per worker
  // Sink: a pipe's write end (pcapng) or a TAP fd (raw frames).
  int fd = -1;
  bool tap = false;

  // Workers: copies placed, ring-full drops, bytes placed (per session,
  // relaxed atomics: only while a capture runs).
  std::atomic<uint64_t> copies{0}, dropped{0}, bytes{0};
  // Set by the writer (count reached, reader gone) or by stop: workers skip it.
  std::atomic<bool> done{false};
  std::atomic<bool> stopped{false};

  // Writer thread only.
  uint64_t written = 0;
  std::vector<uint8_t> out;  // pcapng bytes not yet taken by the pipe
  size_t out_off = 0;
  double stopped_at = 0;  // when the writer first saw the stop (NowMs)

  bool Has(uint32_t port) const { return port < kMaxPorts && (ports[port >> 6] >> (port & 63) & 1); }
  bool HasNet(uint32_t net) const { return !nets.empty() && net <= kMaxNetworks && (nets[net >> 6] >> (net & 63) & 1); }
};

// What workers see: the sessions running now.
struct CaptureSet {
  std::vector<std::shared_ptr<CaptureSession>> sessions;
};

struct CaptureOptions {
  std::vector<uint32_t> ports;
  std::vector<uint32_t> networks;         // every port of these, now and later
  std::map<uint32_t, std::string> names;  // pcapng interface names by port id
  bool underlay = false;
  uint8_t dirs = kCapIn | kCapOut;
  uint32_t snaplen = 262144;
  uint64_t count = 0;
  size_t ring_bytes = 8u << 20;
  std::string filter;
  std::string tap;  // non-empty: a mirror to this TAP
};

class Capture {
 public:
  Capture(size_t workers, Epochs& epochs) : workers_(workers), epochs_(epochs) {}
  ~Capture() { Shutdown(); }

  // Worker side. One relaxed load per batch when nothing is captured.
  bool active() const { return active_.load(std::memory_order_relaxed) != 0; }
  void CopyRx(size_t worker, uint32_t port, uint32_t net, const Frame* frames, int n, Counters& c);
  void CopyTx(size_t worker, uint32_t port, uint32_t net, Frame* const* frames, int n, Counters& c);
  // The underlay's outer packets (IPv4, from the IP header on): LINKTYPE_RAW.
  void CopyUnderlay(size_t worker, uint8_t dir, const uint8_t* pkt, uint32_t len, Counters& c);
  // An outer packet gathered from pieces; the IPv4 header's length and
  // checksum (the kernel fills them in for a raw socket) are filled in.
  void CopyUnderlayIov(size_t worker, uint8_t dir, const iovec* iov, size_t n, Counters& c);
  // A VXLAN datagram whose IPv4 and UDP headers the socket hides: they are
  // made up from the addresses and ports (network order), the UDP payload
  // gathered from `iov`.
  void CopyUnderlayUdp(size_t worker, uint8_t dir, uint32_t src_ip, uint16_t sport, uint32_t dst_ip, uint16_t dport,
                       const iovec* iov, size_t n, Counters& c);

  // JavaScript thread. Start throws std::runtime_error (libpcap's text for
  // a bad filter); *read_fd gets the pipe's read end for a pcapng sink.
  uint32_t Start(const CaptureOptions& o, int* read_fd);
  bool Stop(uint32_t id);
  bool Stats(uint32_t id, uint64_t* copies, uint64_t* dropped, uint64_t* bytes, bool* done);
  // Empty when `expr` compiles; else libpcap's error text.
  static std::string CheckFilter(const std::string& expr, uint32_t snaplen = 262144);
  void Shutdown();

  static constexpr size_t kMaxSessions = 32;

 private:
  void Publish();
  void WriterLoop();
  // Moves what one session's rings hold to its sink; whether it did anything.
  bool Drain(CaptureSession& s);
  template <typename Get>
  void Copy(size_t worker, uint32_t port, uint32_t net, uint8_t dir, int n, Get get, Counters& c);

  size_t workers_;
  Epochs& epochs_;
  std::atomic<uint32_t> active_{0};
  std::atomic<CaptureSet*> set_{new CaptureSet()};
  uint32_t next_id_ = 1;
  std::map<uint32_t, std::shared_ptr<CaptureSession>> sessions_;  // JavaScript thread

  // The writer's own list, handed over under mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<CaptureSession>> writer_sessions_;
  bool writer_stop_ = false;
  std::thread writer_;
};

// The worker on this thread, for capture points with no worker at hand (a
// tunnel port's sends run on the worker that flushes them). Set once by
// each worker thread.
struct CaptureThread {
  Capture* capture = nullptr;
  size_t worker = 0;
  Counters* counters = nullptr;
  bool active() const { return capture != nullptr && capture->active(); }
};
extern thread_local CaptureThread capture_thread;

}  // namespace weft
