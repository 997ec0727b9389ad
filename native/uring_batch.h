// Many reads or writes in one system call. A TAP device has no sendmmsg
// or recvmmsg: each frame costs a read() or write(), and on a virtual
// machine the system call's entry and exit cost as much as the work. An
// io_uring per worker thread takes a whole batch in one io_uring_enter
// instead, each done on the spot with the result read() or write() would
// give: weft's TAP fds are O_NONBLOCK, so io_uring answers -EAGAIN for an
// empty queue instead of waiting.
#pragma once

#include <sys/uio.h>

#include <cstdint>

struct io_uring_cqe;  // linux/io_uring.h, in the .cc only
struct io_uring_sqe;

namespace weft {

class UringBatch {
 public:
  // The calling thread's ring, made on first use; null where io_uring
  // cannot be had (not built in, disabled by sysctl, seccomp): the caller
  // writes frame by frame.
  static UringBatch* ForThread();
  ~UringBatch();
  // Writes bufs[i] to fd for every i < n; results[i] is what write()
  // would have returned (the byte count, or -errno).
  void Write(int fd, const iovec* bufs, int n, int* results) { Run(kWrite, fd, bufs, n, results); }
  // Reads into bufs[i] for every i < n, in order: as many read() calls.
  void Read(int fd, const iovec* bufs, int n, int* results) { Run(kRead, fd, bufs, n, results); }

 private:
  enum Op { kRead, kWrite };
  UringBatch() = default;
  void Run(Op op, int fd, const iovec* bufs, int n, int* results);
  bool Setup();
  int fd_ = -1;
  uint32_t entries_ = 0;
  void* sq_map_ = nullptr;
  void* cq_map_ = nullptr;
  void* sqe_map_ = nullptr;
  size_t sq_len_ = 0, cq_len_ = 0, sqe_len_ = 0;
  uint32_t* sq_tail_ = nullptr;
  uint32_t* sq_mask_ = nullptr;
  uint32_t* sq_array_ = nullptr;
  uint32_t* cq_head_ = nullptr;
  uint32_t* cq_tail_ = nullptr;
  uint32_t* cq_mask_ = nullptr;
  ::io_uring_cqe* cqes_ = nullptr;
  ::io_uring_sqe* sqes_ = nullptr;
};

}  // namespace weft
