#include "uring_batch.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace weft {

namespace {
// Requests per io_uring_enter: a worker's batch (kBatch) and some.
constexpr uint32_t kEntries = 128;
}  // namespace

UringBatch* UringBatch::ForThread() {
  thread_local std::unique_ptr<UringBatch> ring;
  thread_local bool tried = false;
  if (!tried) {
    tried = true;
    std::unique_ptr<UringBatch> r(new UringBatch());
    if (r->Setup()) ring = std::move(r);
  }
  return ring.get();
}

bool UringBatch::Setup() {
  io_uring_params p;
  std::memset(&p, 0, sizeof(p));
  // One thread submits and reaps, and completions are run when it asks:
  // nothing for the kernel to do behind its back.
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  fd_ = static_cast<int>(syscall(__NR_io_uring_setup, kEntries, &p));
  if (fd_ < 0) {
    std::memset(&p, 0, sizeof(p));
    fd_ = static_cast<int>(syscall(__NR_io_uring_setup, kEntries, &p));
  }
  if (fd_ < 0) return false;
  entries_ = p.sq_entries;
  sq_len_ = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  cq_len_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  sqe_len_ = p.sq_entries * sizeof(io_uring_sqe);
  sq_map_ = mmap(nullptr, sq_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
  cq_map_ = mmap(nullptr, cq_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_CQ_RING);
  sqe_map_ = mmap(nullptr, sqe_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
  if (sq_map_ == MAP_FAILED || cq_map_ == MAP_FAILED || sqe_map_ == MAP_FAILED) return false;
  auto* sq = static_cast<uint8_t*>(sq_map_);
  auto* cq = static_cast<uint8_t*>(cq_map_);
  sq_tail_ = reinterpret_cast<uint32_t*>(sq + p.sq_off.tail);
  sq_mask_ = reinterpret_cast<uint32_t*>(sq + p.sq_off.ring_mask);
  sq_array_ = reinterpret_cast<uint32_t*>(sq + p.sq_off.array);
  cq_head_ = reinterpret_cast<uint32_t*>(cq + p.cq_off.head);
  cq_tail_ = reinterpret_cast<uint32_t*>(cq + p.cq_off.tail);
  cq_mask_ = reinterpret_cast<uint32_t*>(cq + p.cq_off.ring_mask);
  cqes_ = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
  sqes_ = static_cast<io_uring_sqe*>(sqe_map_);
  return true;
}

UringBatch::~UringBatch() {
  if (sq_map_ && sq_map_ != MAP_FAILED) munmap(sq_map_, sq_len_);
  if (cq_map_ && cq_map_ != MAP_FAILED) munmap(cq_map_, cq_len_);
  if (sqe_map_ && sqe_map_ != MAP_FAILED) munmap(sqe_map_, sqe_len_);
  if (fd_ >= 0) close(fd_);
}

void UringBatch::Run(Op op, int fd, const iovec* bufs, int n, int* results) {
  for (int done = 0; done < n;) {
    uint32_t k = static_cast<uint32_t>(n - done) < entries_ ? static_cast<uint32_t>(n - done) : entries_;
    uint32_t tail = *sq_tail_;
    for (uint32_t i = 0; i < k; i++) {
      uint32_t idx = (tail + i) & *sq_mask_;
      io_uring_sqe& e = sqes_[idx];
      std::memset(&e, 0, sizeof(e));
      e.opcode = op == kRead ? IORING_OP_READ : IORING_OP_WRITE;
      e.fd = fd;
      e.addr = reinterpret_cast<uint64_t>(bufs[done + i].iov_base);
      e.len = static_cast<uint32_t>(bufs[done + i].iov_len);
      e.off = static_cast<uint64_t>(-1);  // the file's own position: none for a TAP
      e.user_data = done + i;
      // An empty queue answers -EAGAIN at once: without RWF_NOWAIT io_uring
      // would wait for the fd to become ready, O_NONBLOCK or not.
      e.rw_flags = RWF_NOWAIT;
      sq_array_[idx] = idx;
    }
    __atomic_store_n(sq_tail_, tail + k, __ATOMIC_RELEASE);
    for (int i = 0; i < static_cast<int>(k); i++) results[done + i] = -EIO;  // until its completion says
    uint32_t reaped = 0, submitted = 0;
    while (reaped < k) {
      long r = syscall(__NR_io_uring_enter, fd_, k - submitted, k - reaped, IORING_ENTER_GETEVENTS, nullptr, 0);
      if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) break;  // the rest stay -EIO
      if (r > 0) submitted += static_cast<uint32_t>(r);
      uint32_t head = *cq_head_;
      uint32_t ctail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
      for (; head != ctail; head++) {
        const io_uring_cqe& c = cqes_[head & *cq_mask_];
        results[c.user_data] = c.res;
        reaped++;
      }
      __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
    }
    done += static_cast<int>(k);
  }
}

}  // namespace weft
