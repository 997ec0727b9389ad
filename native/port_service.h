// Service ports: a port with no file descriptor, owned by JavaScript, for
// in-band DNS. TypeScript pins the DNS address's MAC to it in the fib and
// answers ARP for the address by proxy; the frames the switch sends to it go
// to JavaScript in batches (FrameQueue, events.h), and the answers come back
// through inject() as if the port had received them.
//
// This is the one place a packet crosses into JavaScript (DESIGN: "a DNS
// query on an in-band address"), so the port is kept narrow: it is in no
// flood list (broadcasts, multicasts and unknown unicast never reach it),
// only unicast to a MAC the fib maps to it does, and what reaches
// JavaScript is a plain Ethernet frame with every checksum complete.
//
// Header-only so binding.gyp needs no new source.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "events.h"
#include "gso.h"
#include "port.h"

namespace weft {

class ServicePort : public Port {
 public:
  ServicePort(uint32_t id, uint32_t network, uint32_t mtu, std::shared_ptr<FrameQueue> queue)
      : Port(id, network, mtu, -1), queue_(std::move(queue)) {}

  int RxBatch(Frame*, int) override { return 0; }  // its frames come from inject()
  // Queues the frames toward JavaScript; counts those it took
  // (service_frames) and those it refused, by reason.
  int TxBatch(Frame* const* frames, int n, Counters& c) override {
    thread_local std::vector<uint8_t> staged;  // built without the queue's lock
    staged.clear();
    size_t ready = 0;
    for (int i = 0; i < n; i++) {
      DropReason why = Stage(*frames[i], staged);
      if (why == kDropReasonCount) ready++;
      else c.Drop(why);
    }
    if (ready == 0) return 0;
    size_t lost = queue_->Push(staged.data(), staged.size(), ready);
    if (lost > 0) c.Drop(service_queue_full, lost);
    int sent = static_cast<int>(ready - lost);
    c.Global(service_frames, sent);
    return sent;
  }
  bool floods() const override { return false; }
  bool is_service() const override { return true; }

 private:
  // Appends `f` to `out` as one wire record; returns the drop reason if it
  // cannot go (kDropReasonCount if it went).
  DropReason Stage(const Frame& f, std::vector<uint8_t>& out) const {
    VnetHdr vh;
    std::memcpy(&vh, f.buf, kVnetHdrLen);
    uint32_t len = f.len - kVnetHdrLen;
    // A DNS query is never a 64 KB super-frame; segmenting one for a
    // resolver that would ignore it is not worth the code.
    if ((vh.gso_type & ~kGsoEcn) != 0) return service_gso;
    if (len > max_frame() || len > 0xffff) return oversized;
    size_t at = out.size();
    out.resize(at + kFrameRecordHdrLen + len);
    uint8_t* rec = out.data() + at;
    std::memset(rec, 0, kFrameRecordHdrLen);
    PutLE32(rec + kFrameAtPort, id());
    PutLE32(rec + kFrameAtNetwork, network());
    PutLE16(rec + kFrameAtLength, static_cast<uint16_t>(len));
    std::memcpy(rec + kFrameRecordHdrLen, f.buf + kVnetHdrLen, len);
    // TAP senders with offloads leave UDP/TCP checksums partial. Finished on
    // the copy: JavaScript then needs no vnet header, and the worker's
    // buffer stays as received.
    if (!CompleteChecksum(&vh, rec + kFrameRecordHdrLen, len)) {
      out.resize(at);
      return bad_vnet_hdr;
    }
    return kDropReasonCount;
  }

  std::shared_ptr<FrameQueue> queue_;
};

}  // namespace weft
