// FUTEX_WAIT as an io_uring request (IORING_OP_FUTEX_WAIT, Linux 6.7+).
//
// Why: a FutexWaiter thread woken by FUTEX_WAKE still has to hand the
// outcome to the event loop (uv_async: an eventfd write and a second
// thread switch), which costs about as much again as the wake-up itself on
// a VM. With the wait queued on a ring whose fd the loop polls, FUTEX_WAKE
// from any process makes the loop's own thread runnable: one wake-up, as in
// C. The ring is set up without DEFER_TASKRUN on purpose: with it, a
// completion does not wake a poller of the ring fd.
//
// Raw system calls, no liburing: four submission entries, one wait (with a
// linked timeout) and one cancel in flight at most.
#pragma once
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace ipc {

// Not in older kernel headers; the values are part of the kernel ABI.
constexpr uint8_t kOpFutexWait = 51;   // IORING_OP_FUTEX_WAIT
constexpr uint32_t kFutex2U32 = 0x02;  // FUTEX2_SIZE_U32 (no FUTEX2_PRIVATE: the word is shared between processes)

class FutexRing {
 public:
  FutexRing() = default;
  FutexRing(const FutexRing&) = delete;
  FutexRing& operator=(const FutexRing&) = delete;
  ~FutexRing() { Close(); }

  // Sets the ring up and proves that this kernel runs FUTEX_WAIT on it (a
  // wait on a word that differs must complete at once with EAGAIN). False:
  // no io_uring here (old kernel, seccomp, io_uring_disabled); the caller
  // waits on a thread instead.
  bool Open() {
    struct io_uring_params p;
    std::memset(&p, 0, sizeof p);
    long fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0) return false;
    fd_ = static_cast<int>(fd);
    if ((p.features & IORING_FEAT_SINGLE_MMAP) == 0) return Fail();
    size_t sq = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
    size_t cq = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    ringBytes_ = sq > cq ? sq : cq;
    void* r = mmap(nullptr, ringBytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
    if (r == MAP_FAILED) return Fail();
    ring_ = static_cast<uint8_t*>(r);
    sqesBytes_ = p.sq_entries * sizeof(struct io_uring_sqe);
    void* s = mmap(nullptr, sqesBytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
    if (s == MAP_FAILED) return Fail();
    sqes_ = static_cast<struct io_uring_sqe*>(s);
    sqTail_ = reinterpret_cast<uint32_t*>(ring_ + p.sq_off.tail);
    sqMask_ = *reinterpret_cast<uint32_t*>(ring_ + p.sq_off.ring_mask);
    sqArray_ = reinterpret_cast<uint32_t*>(ring_ + p.sq_off.array);
    cqHead_ = reinterpret_cast<uint32_t*>(ring_ + p.cq_off.head);
    cqTail_ = reinterpret_cast<uint32_t*>(ring_ + p.cq_off.tail);
    cqMask_ = *reinterpret_cast<uint32_t*>(ring_ + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<struct io_uring_cqe*>(ring_ + p.cq_off.cqes);
    // The probe word holds 0 and the wait expects 1: it must end at once with EAGAIN.
    uint32_t probe = 0;
    if (Arm(&probe, 1, -1, 1, 0) != 0 || Enter(0, 1, IORING_ENTER_GETEVENTS) < 0) return Fail();
    uint64_t tag;
    int32_t res;
    if (!Next(&tag, &res) || tag != 1 || res != -EAGAIN) return Fail();
    return true;
  }

  int fd() const { return fd_; }

  // Queues FUTEX_WAIT on *addr while it holds `expected`, tagged `tag`; with
  // timeoutMs >= 0 a linked timeout (tagged `timeoutTag`) cancels it, and it
  // completes with ECANCELED. Returns 0 or -errno; on failure nothing is queued.
  int Arm(uint32_t* addr, uint32_t expected, int64_t timeoutMs, uint64_t tag, uint64_t timeoutTag) {
    struct io_uring_sqe* wait = Queue(kOpFutexWait, addr, expected, tag);
    if (timeoutMs >= 0) {
      wait->flags |= IOSQE_IO_LINK;
      ts_.tv_sec = timeoutMs / 1000;
      ts_.tv_nsec = (timeoutMs % 1000) * 1000000L;
      struct io_uring_sqe* t = Queue(IORING_OP_LINK_TIMEOUT, &ts_, 0, timeoutTag);
      t->len = 1;
    }
    int rc = Submit();
    // The wait went in without its timeout (the kernel ran short of memory half-way): take it back.
    if (rc > 0 && Cancel(tag, 0) == 0) return -EAGAIN;
    return rc > 0 ? -EAGAIN : rc;
  }

  // Asks the kernel to cancel the request tagged `tag` (its completion says ECANCELED).
  int Cancel(uint64_t tag, uint64_t cancelTag) {
    struct io_uring_sqe* c = Queue(IORING_OP_ASYNC_CANCEL, nullptr, 0, cancelTag);
    c->addr = tag;
    int rc = Submit();
    return rc > 0 ? -EAGAIN : rc;
  }

  // Pops the next completion; false when there is none.
  bool Next(uint64_t* tag, int32_t* res) {
    uint32_t head = *cqHead_;
    if (head == __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE)) return false;
    const struct io_uring_cqe& c = cqes_[head & cqMask_];
    *tag = c.user_data;
    *res = c.res;
    __atomic_store_n(cqHead_, head + 1, __ATOMIC_RELEASE);
    return true;
  }

  // Closing the fd ends every request still queued on the ring.
  void Close() {
    if (sqes_ != nullptr) munmap(sqes_, sqesBytes_);
    if (ring_ != nullptr) munmap(ring_, ringBytes_);
    if (fd_ >= 0) close(fd_);
    sqes_ = nullptr;
    ring_ = nullptr;
    fd_ = -1;
  }

 private:
  bool Fail() {
    Close();
    return false;
  }

  // Fills the next submission entry; the kernel sees it at Submit.
  struct io_uring_sqe* Queue(uint8_t op, void* addr, uint64_t value, uint64_t tag) {
    uint32_t index = (*sqTail_ + pending_) & sqMask_;
    struct io_uring_sqe* e = &sqes_[index];
    std::memset(e, 0, sizeof *e);
    e->opcode = op;
    e->addr = reinterpret_cast<uintptr_t>(addr);
    e->user_data = tag;
    if (op == kOpFutexWait) {
      e->fd = static_cast<int32_t>(kFutex2U32);
      e->addr2 = value;
      e->addr3 = 0xffffffffu;  // FUTEX_BITSET_MATCH_ANY: woken by plain FUTEX_WAKE
    }
    sqArray_[index] = index;
    pending_++;
    return e;
  }

  // Hands the queued entries to the kernel: 0 when it took all of them, -errno
  // when it took none, or how many it took of more (the rest are withdrawn).
  int Submit() {
    uint32_t tail = *sqTail_, count = pending_;
    pending_ = 0;
    __atomic_store_n(sqTail_, tail + count, __ATOMIC_RELEASE);
    long rc = Enter(count, 0, 0);
    if (rc == static_cast<long>(count)) return 0;
    int err = rc < 0 ? errno : EAGAIN;
    __atomic_store_n(sqTail_, tail + static_cast<uint32_t>(rc < 0 ? 0 : rc), __ATOMIC_RELEASE);
    return rc > 0 ? static_cast<int>(rc) : -err;
  }

  long Enter(uint32_t submit, uint32_t wait, uint32_t flags) {
    long rc;
    do rc = syscall(__NR_io_uring_enter, fd_, submit, wait, flags, nullptr, 0);
    while (rc < 0 && errno == EINTR);
    return rc;
  }

  int fd_ = -1;
  uint8_t* ring_ = nullptr;
  size_t ringBytes_ = 0;
  struct io_uring_sqe* sqes_ = nullptr;
  size_t sqesBytes_ = 0;
  uint32_t* sqTail_ = nullptr;
  uint32_t sqMask_ = 0;
  uint32_t* sqArray_ = nullptr;
  uint32_t* cqHead_ = nullptr;
  uint32_t* cqTail_ = nullptr;
  uint32_t cqMask_ = 0;
  struct io_uring_cqe* cqes_ = nullptr;
  uint32_t pending_ = 0;
  struct __kernel_timespec ts_ {};
};

// One waiter's wait on a ring of its own, reported on the event loop that
// polls the ring's fd. The poll stays started but holds the loop open only
// while a wait is armed. Outcomes: 0 woken (or the word differed), 1 timed
// out, 2 cancelled, as the waiter thread reports them.
class RingWait {
 public:
  using Report = void (*)(void* owner, int outcome);

  RingWait() = default;
  RingWait(const RingWait&) = delete;
  RingWait& operator=(const RingWait&) = delete;
  ~RingWait() { Close(); }

  // False (and nothing set up) where io_uring cannot wait on a futex.
  bool Start(uv_loop_t* loop, void* owner, Report report) {
    if (!ring_.Open()) return false;
    auto* poll = new uv_poll_t;
    if (uv_poll_init(loop, poll, ring_.fd()) != 0 || uv_poll_start(poll, UV_READABLE, OnReady) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      ring_.Close();
      return false;
    }
    poll->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(poll));
    poll_ = poll;
    owner_ = owner;
    report_ = report;
    return true;
  }

  bool active() const { return poll_ != nullptr; }
  bool armed() const { return armed_; }
  bool cancelling() const { return cancelling_; }

  // 0, or -errno with nothing armed.
  int Arm(uint32_t* addr, uint32_t expected, int64_t timeoutMs) {
    generation_++;
    int rc = ring_.Arm(addr, expected, timeoutMs, WaitTag(), WaitTag() + 1);
    if (rc != 0) return rc;
    armed_ = true;
    cancelling_ = false;
    uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return 0;
  }

  // Ends the armed wait with outcome 2; false when the cancel could not be
  // queued. A wait that has just ended (ENOENT) reports its own outcome.
  bool Cancel() {
    if (armed_ && !cancelling_) cancelling_ = ring_.Cancel(WaitTag(), kCancelTag) == 0;
    return cancelling_;
  }

  // Closing the ring's fd ends a wait still armed, with no outcome reported.
  void Close() {
    if (poll_ == nullptr) return;
    poll_->data = nullptr;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    armed_ = false;
    ring_.Close();
  }

 private:
  static constexpr uint64_t kCancelTag = 1;
  // Each wait's completions carry its generation, so a late one of an older wait is told apart.
  uint64_t WaitTag() const { return generation_ * 2 + 2; }

  // Every completion on the ring: the armed wait's ends it; the rest (its
  // linked timeout, a cancel, an older wait) carry nothing to report.
  static void OnReady(uv_poll_t* handle, int, int) {
    auto* self = static_cast<RingWait*>(handle->data);
    if (self == nullptr) return;
    int outcome = -1;
    uint64_t tag;
    int32_t res;
    while (self->ring_.Next(&tag, &res)) {
      if (!self->armed_ || tag != self->WaitTag()) continue;
      // ECANCELED comes from Cancel() or from the linked timeout; anything
      // else (EAGAIN: the word differed; EFAULT and the like) sends the
      // caller to look at the word, as the waiter thread does.
      outcome = res == -ECANCELED ? (self->cancelling_ ? 2 : 1) : 0;
      self->armed_ = false;
    }
    if (outcome < 0) return;
    uv_unref(reinterpret_cast<uv_handle_t*>(self->poll_));
    self->report_(self->owner_, outcome);
  }

  FutexRing ring_;
  uv_poll_t* poll_ = nullptr;
  void* owner_ = nullptr;
  Report report_ = nullptr;
  uint64_t generation_ = 0;
  bool armed_ = false;
  bool cancelling_ = false;
};

}  // namespace ipc
