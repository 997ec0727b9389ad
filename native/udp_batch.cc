// UdpBatchSocket: see udp_batch.h for the record layout.
//
//   new UdpBatchSocket({ address, port, onBatch(records: Buffer), reuseAddr? })
//   sendBatch(records: Buffer) -> datagrams sent
//   close(), ref(), unref(), counters, localPort
//
// Ownership: the receive thread and the JavaScript thread share a Shared
// block (the inbox and the counters) through a shared_ptr; the thread-safe
// function holds one too (its context), so a call still queued after
// close() finds live memory and does nothing.
#include "udp_batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wire.h"

namespace weft {

namespace {

// Big enough for any IPv4 UDP payload (65507 bytes): nothing is truncated.
constexpr size_t kSlotLen = 65536;
// sendmmsg takes at most UIO_MAXIOV messages per call.
constexpr size_t kSendChunk = 1024;

struct Shared {
  std::mutex mu;
  std::vector<uint8_t> inbox;  // records waiting for JavaScript (guarded by mu)
  std::vector<uint8_t> drained;  // JavaScript thread only: the inbox taken out
  std::atomic<bool> closed{false};
  std::atomic<uint64_t> received{0}, rx_dropped{0}, rx_errors{0}, batches{0};
  // Written on the JavaScript thread only; atomics so any reader sees whole values.
  std::atomic<uint64_t> sent{0}, tx_dropped{0};
};

using Ctx = std::shared_ptr<Shared>;

// Runs on the JavaScript thread: everything received so far, in one call.
void Deliver(Napi::Env env, Napi::Function fn, Ctx* ctx, std::nullptr_t*) {
  if (env == nullptr || ctx == nullptr) return;
  Shared& s = **ctx;
  if (s.closed.load(std::memory_order_acquire)) return;
  s.drained.clear();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.drained.swap(s.inbox);
  }
  if (s.drained.empty()) return;
  s.batches.fetch_add(1, std::memory_order_relaxed);
  fn.Call({Napi::Buffer<uint8_t>::Copy(env, s.drained.data(), s.drained.size())});
}

using Tsfn = Napi::TypedThreadSafeFunction<Ctx, std::nullptr_t, Deliver>;

std::string Errno(int err) { return std::strerror(err); }

// Asks for `bytes` of socket buffer, past the sysctl cap when privileged.
void SetBuf(int fd, int force_opt, int opt, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0) return;
  (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

}  // namespace

class UdpBatchSocket : public Napi::ObjectWrap<UdpBatchSocket> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "UdpBatchSocket", {
        InstanceMethod<&UdpBatchSocket::SendBatch>("sendBatch"),
        InstanceMethod<&UdpBatchSocket::Close>("close"),
        InstanceMethod<&UdpBatchSocket::Ref>("ref"),
        InstanceMethod<&UdpBatchSocket::Unref>("unref"),
        InstanceAccessor<&UdpBatchSocket::GetCounters>("counters"),
        InstanceAccessor<&UdpBatchSocket::GetLocalPort>("localPort"),
    });
    exports.Set("UdpBatchSocket", cls);
    exports.Set("udpRecordHdrLen", static_cast<double>(kUdpRecordHdrLen));
  }

  explicit UdpBatchSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpBatchSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "options object required");
    auto opts = info[0].As<Napi::Object>();
    if (!opts.Get("address").IsString()) throw Napi::TypeError::New(env, "address must be a string");
    std::string address = opts.Get("address").As<Napi::String>().Utf8Value();
    Napi::Value pv = opts.Get("port");
    double port = pv.IsNumber() ? pv.As<Napi::Number>().DoubleValue() : -1;
    if (port < 0 || port > 65535 || port != static_cast<uint16_t>(port)) throw Napi::RangeError::New(env, "port must be 0..65535");
    if (!opts.Get("onBatch").IsFunction()) throw Napi::TypeError::New(env, "onBatch must be a function");
    bool reuse = opts.Get("reuseAddr").ToBoolean().Value();

    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) throw Napi::Error::New(env, "malformed IPv4 address '" + address + "'");
    std::string where = address + ":" + std::to_string(static_cast<int>(port));

    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw Napi::Error::New(env, "udp socket: " + Errno(errno));
    // Off by default: on UDP, SO_REUSEADDR lets a second socket bind the
    // same address and port and silently take the traffic.
    if (reuse) {
      int one = 1;
      (void)setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    SetBuf(fd_, SO_RCVBUFFORCE, SO_RCVBUF, kUdpSockBufBytes);
    SetBuf(fd_, SO_SNDBUFFORCE, SO_SNDBUF, kUdpSockBufBytes);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
      int err = errno;
      CloseFds();
      throw Napi::Error::New(env, "bind " + where + ": " + Errno(err));
    }
    sockaddr_in bound{};
    socklen_t blen = sizeof(bound);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &blen) == 0) local_port_ = ntohs(bound.sin_port);

    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd_;
    bool ok = epfd_ >= 0 && wakefd_ >= 0 && epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev) == 0;
    ev.data.fd = wakefd_;
    ok = ok && epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) == 0;
    if (!ok) {
      int err = errno;
      CloseFds();
      throw Napi::Error::New(env, "udp " + where + ": epoll/eventfd: " + Errno(err));
    }

    shared_ = std::make_shared<Shared>();
    // Referenced (keeps Node running) while open, like a dgram socket;
    // close() releases it, unref() lets Node exit anyway.
    tsfn_ = Tsfn::New(env, opts.Get("onBatch").As<Napi::Function>(), "weft-udp-batch", 0, 1, new Ctx(shared_),
                      [](Napi::Env, void*, Ctx* ctx) { delete ctx; });
    env_ = env;
    // Stops the thread before Node tears the environment (and the
    // thread-safe function) down, if JavaScript never called close().
    hooked_ = napi_add_env_cleanup_hook(env, &UdpBatchSocket::OnEnvCleanup, this) == napi_ok;
    thread_ = std::thread([this] { Run(); });
  }

  ~UdpBatchSocket() override { Shutdown(); }

 private:
  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<UdpBatchSocket*>(arg);
    self->hooked_ = false;  // Node removes the hook itself
    self->Shutdown();
  }

  void CloseFds() {
    for (int* fd : {&fd_, &epfd_, &wakefd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

  void Shutdown() {
    if (closed_) return;
    closed_ = true;
    if (thread_.joinable()) {
      stop_.store(true);
      uint64_t one = 1;
      (void)!write(wakefd_, &one, sizeof(one));
      thread_.join();
    }
    CloseFds();
    if (shared_) shared_->closed.store(true, std::memory_order_release);
    tsfn_.Release();
    if (hooked_) {
      napi_remove_env_cleanup_hook(env_, &UdpBatchSocket::OnEnvCleanup, this);
      hooked_ = false;
    }
  }

  // The receive thread.
  void Run() {
    std::vector<uint8_t> slots(static_cast<size_t>(kUdpBatch) * kSlotLen);
    mmsghdr msgs[kUdpBatch];
    iovec iov[kUdpBatch];
    sockaddr_in from[kUdpBatch];
    std::memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < kUdpBatch; i++) {
      iov[i].iov_base = slots.data() + static_cast<size_t>(i) * kSlotLen;
      iov[i].iov_len = kSlotLen;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
    }
    epoll_event evs[2];
    while (!stop_.load(std::memory_order_relaxed)) {
      int n = epoll_wait(epfd_, evs, 2, -1);
      if (n < 0 && errno != EINTR) break;
      if (stop_.load(std::memory_order_relaxed)) break;
      for (;;) {
        for (int i = 0; i < kUdpBatch; i++) msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
        int got = recvmmsg(fd_, msgs, kUdpBatch, MSG_DONTWAIT, nullptr);
        if (got < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) shared_->rx_errors.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        if (got == 0) break;
        Queue(msgs, from, got);
        // A short batch means the socket is (nearly) empty: back to epoll,
        // which is level-triggered and returns at once if more came.
        if (got < kUdpBatch || stop_.load(std::memory_order_relaxed)) break;
      }
    }
  }

  // Receive thread: appends `n` datagrams to the inbox, waking JavaScript
  // when the inbox was empty (otherwise a call is already on its way).
  void Queue(const mmsghdr* msgs, const sockaddr_in* from, int n) {
    Shared& s = *shared_;
    size_t taken = 0, dropped = 0;
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      was_empty = s.inbox.empty();
      for (int i = 0; i < n; i++) {
        size_t len = msgs[i].msg_len;
        if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || from[i].sin_family != AF_INET || len > 0xffff ||
            s.inbox.size() + kUdpRecordHdrLen + len > kUdpInboxMaxBytes) {
          dropped++;
          continue;
        }
        size_t at = s.inbox.size();
        s.inbox.resize(at + kUdpRecordHdrLen + len);
        uint8_t* p = s.inbox.data() + at;
        std::memcpy(p, &from[i].sin_addr.s_addr, 4);
        PutLE16(p + 4, ntohs(from[i].sin_port));
        PutLE16(p + 6, static_cast<uint16_t>(len));
        std::memcpy(p + kUdpRecordHdrLen, msgs[i].msg_hdr.msg_iov->iov_base, len);
        taken++;
      }
    }
    s.received.fetch_add(taken, std::memory_order_relaxed);
    if (dropped) s.rx_dropped.fetch_add(dropped, std::memory_order_relaxed);
    if (was_empty && taken > 0) tsfn_.NonBlockingCall();
  }

  // sendBatch(records: Buffer | Uint8Array) -> how many datagrams went out.
  // The whole buffer is checked before anything is sent; a datagram the
  // kernel refuses (full buffer: the rest of the batch) is counted as
  // txDropped, never waited for.
  Napi::Value SendBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw Napi::Error::New(env, "socket is closed");
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "sendBatch takes a Buffer of records");
    }
    auto arr = info[0].As<Napi::Uint8Array>();
    uint8_t* data = arr.Data();
    size_t len = arr.ByteLength();
    size_t count = 0;
    for (size_t off = 0; off < len; count++) {
      if (off + kUdpRecordHdrLen > len || off + kUdpRecordHdrLen + GetLE16(data + off + 6) > len) {
        throw Napi::RangeError::New(env, "sendBatch: record " + std::to_string(count) + " runs past the end of the buffer");
      }
      off += kUdpRecordHdrLen + GetLE16(data + off + 6);
    }
    if (count == 0) return Napi::Number::New(env, 0);
    if (tx_msgs_.size() < count) {
      tx_msgs_.resize(count);
      tx_iov_.resize(count);
      tx_addr_.resize(count);
    }
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
      const uint8_t* p = data + off;
      uint16_t dlen = GetLE16(p + 6);
      sockaddr_in& a = tx_addr_[i];
      a = sockaddr_in{};
      a.sin_family = AF_INET;
      std::memcpy(&a.sin_addr.s_addr, p, 4);
      a.sin_port = htons(GetLE16(p + 4));
      tx_iov_[i].iov_base = data + off + kUdpRecordHdrLen;
      tx_iov_[i].iov_len = dlen;
      msghdr& h = tx_msgs_[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &a;
      h.msg_namelen = sizeof(a);
      h.msg_iov = &tx_iov_[i];
      h.msg_iovlen = 1;
      off += kUdpRecordHdrLen + dlen;
    }
    size_t i = 0, sent = 0, dropped = 0;
    while (i < count) {
      unsigned int chunk = static_cast<unsigned int>(std::min(count - i, kSendChunk));
      int r = sendmmsg(fd_, tx_msgs_.data() + i, chunk, MSG_DONTWAIT);
      if (r > 0) {
        sent += r;
        i += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        dropped += count - i;  // the socket buffer is full: the rest would fail too
        break;
      }
      dropped++;  // this one datagram was refused (ENOBUFS, EINVAL for port 0, ...)
      i++;
    }
    shared_->sent.fetch_add(sent, std::memory_order_relaxed);
    if (dropped) shared_->tx_dropped.fetch_add(dropped, std::memory_order_relaxed);
    return Napi::Number::New(env, static_cast<double>(sent));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (!closed_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (!closed_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value GetCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    const Shared& s = *shared_;
    auto num = [](const std::atomic<uint64_t>& v) { return static_cast<double>(v.load(std::memory_order_relaxed)); };
    o.Set("received", num(s.received));
    o.Set("sent", num(s.sent));
    o.Set("rxDropped", num(s.rx_dropped));
    o.Set("txDropped", num(s.tx_dropped));
    o.Set("dropped", num(s.rx_dropped) + num(s.tx_dropped));
    o.Set("rxErrors", num(s.rx_errors));
    o.Set("batches", num(s.batches));
    return o;
  }

  Napi::Value GetLocalPort(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), local_port_); }

  int fd_ = -1;
  int epfd_ = -1;
  int wakefd_ = -1;
  uint16_t local_port_ = 0;
  bool closed_ = false;
  bool hooked_ = false;
  napi_env env_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::shared_ptr<Shared> shared_;
  Tsfn tsfn_;
  // sendBatch's scratch, JavaScript thread only, grown as needed.
  std::vector<mmsghdr> tx_msgs_;
  std::vector<iovec> tx_iov_;
  std::vector<sockaddr_in> tx_addr_;
};

void InitUdpBatch(Napi::Env env, Napi::Object exports) { UdpBatchSocket::Init(env, exports); }

}  // namespace weft
