// A UDP socket read and written in batches, for JavaScript servers that
// answer many small datagrams (the DNS host listener). The socket and its
// receive thread live here: the thread waits with epoll, takes up to
// kUdpBatch datagrams per recvmmsg, and hands everything received since
// JavaScript last looked to one call, as one buffer of records. JavaScript
// answers with one buffer of records, sent with sendmmsg.
//
// Record layout, the same both ways, records back to back:
//   u8[4] IPv4 address (network order), u16 port (LE), u16 length (LE),
//   then `length` bytes of payload.
#pragma once

#include <napi.h>

#include <cstddef>

namespace weft {

constexpr size_t kUdpRecordHdrLen = 8;
// Datagrams per recvmmsg call.
constexpr int kUdpBatch = 64;
// What waits for JavaScript is bounded: a server that falls behind loses
// datagrams (counted as rxDropped), memory does not grow.
constexpr size_t kUdpInboxMaxBytes = 16u << 20;
// Socket buffers asked for (SO_RCVBUFFORCE / SO_SNDBUFFORCE when allowed).
constexpr int kUdpSockBufBytes = 4 << 20;

// Adds the UdpBatchSocket class to the add-on's exports.
void InitUdpBatch(Napi::Env env, Napi::Object exports);

}  // namespace weft
