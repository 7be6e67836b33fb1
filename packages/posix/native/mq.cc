// POSIX message queues, mq_overview(7): open, non-blocking send and receive
// (one message or a batch per call), attributes, close, unlink. A Linux
// mqd_t is a file descriptor, so callers watch it with FdWatcher (poll.cc).
// Full and empty queues are reported as values, never as exceptions.
#include <fcntl.h>
#include <mqueue.h>
#include <sys/stat.h>
#include "common.h"

namespace ipc {

// mqOpen(name, oflag, mode, maxmsg, msgsize) -> mqd. With O_CREAT and
// maxmsg > 0 the queue gets those attributes. The mode is applied exactly
// without touching the process umask: a queue this call created is
// fchmod'ed (an mqd_t is a descriptor) to `mode` right away.
static Napi::Value MqOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  int oflag;
  unsigned mode;
  int64_t maxmsg, msgsize;
  if (!StringArg(info, 0, "name", &name) || !Int32Arg(info, 1, "oflag", 0, INT32_MAX, &oflag) || !ModeArg(info, 2, &mode) ||
      !IntArg(info, 3, "maxmsg", 0, INT32_MAX, &maxmsg) || !IntArg(info, 4, "msgsize", 0, INT32_MAX, &msgsize)) {
    return env.Undefined();
  }
  if ((oflag & ~(O_ACCMODE | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC)) != 0 || (oflag & O_ACCMODE) == O_ACCMODE) {
    ArgRangeError(info, "oflag must be one access mode with O_CREAT, O_EXCL, O_NONBLOCK or O_CLOEXEC");
    return env.Undefined();
  }
  if (maxmsg > 0 && msgsize <= 0) {
    ArgRangeError(info, "msgsize must be positive when maxmsg is given");
    return env.Undefined();
  }
  mqd_t q;
  if (oflag & O_CREAT) {
    struct mq_attr attr {};
    attr.mq_maxmsg = maxmsg;
    attr.mq_msgsize = msgsize;
    q = mq_open(name.c_str(), oflag, mode, maxmsg > 0 ? &attr : nullptr);
    // Only a queue this call created (O_EXCL) is ours to chmod.
    if (q != static_cast<mqd_t>(-1) && (oflag & O_EXCL) && fchmod(q, mode) != 0) {
      int err = errno;
      mq_close(q);
      mq_unlink(name.c_str());
      return ThrowErrno(env, err, "fchmod");
    }
  } else {
    q = mq_open(name.c_str(), oflag);
  }
  if (q == static_cast<mqd_t>(-1)) return ThrowErrno(env, errno, "mq_open");
  return Napi::Number::New(env, static_cast<double>(q));
}

// mqSend(mqd, buffer, offset, length, priority) -> true sent, false full (EAGAIN).
static Napi::Value MqSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdSlice a;
  unsigned prio;
  if (!FdSliceArgs(info, &a) || !Uint32Arg(info, 4, "priority", 32767, &prio)) return env.Undefined();
  int rc = RetryEintr([&] { return mq_send(a.fd, reinterpret_cast<const char*>(a.data + a.off), a.len, prio); });
  if (rc != 0) {
    if (errno == EAGAIN) return Napi::Boolean::New(env, false);
    return ThrowErrno(env, errno, "mq_send");
  }
  return Napi::Boolean::New(env, true);
}

// mqSendBatch(mqd, buffer, pairs, from, count, priority) -> how many of the
// (start, length) slices pairs[2*from ...] were sent, one message each; stops
// at the first EAGAIN (queue full). An error after some progress returns the
// progress; the next call reports it.
static Napi::Value MqSendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdPairRun a;
  unsigned prio;
  if (!FdPairRunArgs(info, &a) || !Uint32Arg(info, 5, "priority", 32767, &prio)) return env.Undefined();
  int64_t done = 0;
  for (; done < a.count; done++) {
    int32_t start = a.pairs[2 * (a.from + done)];
    int32_t len = a.pairs[2 * (a.from + done) + 1];
    if (!SliceInside(env, start, len, a.size)) return env.Undefined();
    int rc = RetryEintr([&] { return mq_send(a.fd, reinterpret_cast<const char*>(a.data + start), static_cast<size_t>(len), prio); });
    if (rc != 0) {
      if (errno == EAGAIN || done > 0) break;
      return ThrowErrno(env, errno, "mq_send");
    }
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

// mqReceive(mqd, buffer, offset, length) -> message length (0 is a valid,
// empty message), or -1 when the queue is empty (EAGAIN). `length` must be
// at least the queue's mq_msgsize (EMSGSIZE otherwise).
static Napi::Value MqReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdSlice a;
  if (!FdSliceArgs(info, &a)) return env.Undefined();
  ssize_t n = RetryEintr([&] { return mq_receive(a.fd, reinterpret_cast<char*>(a.data + a.off), a.len, nullptr); });
  if (n < 0) {
    if (errno == EAGAIN) return Napi::Number::New(env, -1);
    return ThrowErrno(env, errno, "mq_receive");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// mqReceiveBatch(mqd, buffer, offset, end, msgsize, pairs, maxCount) -> how
// many messages were received back to back into buffer[offset, end), their
// (start, length) written to pairs[0 ...]. Stops when the queue is empty
// (EAGAIN), after maxCount messages, or when fewer than msgsize bytes are
// left. 0 means the queue was empty. Nothing is allocated.
static Napi::Value MqReceiveBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  mqd_t q;
  if (!FdArg(info, 0, &q)) return env.Undefined();
  uint8_t* data;
  size_t size;
  int32_t* pairs;
  size_t npairs;
  if (!BytesArg(info, 1, &data, &size) || !PairsArg(info, 5, &pairs, &npairs)) return env.Undefined();
  int64_t pos, end, msgsize, max;
  if (!IntArg(info, 2, "offset", 0, INT32_MAX, &pos) || !IntArg(info, 3, "end", 0, INT32_MAX, &end) ||
      !IntArg(info, 4, "msgsize", 1, INT32_MAX, &msgsize) || !IntArg(info, 6, "maxCount", -1, kMaxSafe, &max)) {
    return env.Undefined();
  }
  if (pos < 0 || end < pos || static_cast<uint64_t>(end) > size || end > INT32_MAX || msgsize <= 0) {
    Napi::RangeError::New(env, "offset and end must lie inside the buffer, and msgsize be positive").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (max < 0 || static_cast<uint64_t>(2 * max) > npairs) max = static_cast<int64_t>(npairs / 2);
  int64_t count = 0;
  while (count < max && end - pos >= msgsize) {
    ssize_t n = RetryEintr([&] { return mq_receive(q, reinterpret_cast<char*>(data + pos), static_cast<size_t>(msgsize), nullptr); });
    if (n < 0) {
      if (errno == EAGAIN || count > 0) break;
      return ThrowErrno(env, errno, "mq_receive");
    }
    pairs[2 * count] = static_cast<int32_t>(pos);
    pairs[2 * count + 1] = static_cast<int32_t>(n);
    pos += n;
    count++;
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

// mqGetAttr(mqd) -> { flags, maxmsg, msgsize, curmsgs }.
static Napi::Value MqGetAttr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  mqd_t q;
  if (!FdArg(info, 0, &q)) return env.Undefined();
  struct mq_attr attr {};
  if (mq_getattr(q, &attr) != 0) return ThrowErrno(env, errno, "mq_getattr");
  Napi::Object out = Napi::Object::New(env);
  out.Set("flags", Napi::Number::New(env, static_cast<double>(attr.mq_flags)));
  out.Set("maxmsg", Napi::Number::New(env, static_cast<double>(attr.mq_maxmsg)));
  out.Set("msgsize", Napi::Number::New(env, static_cast<double>(attr.mq_msgsize)));
  out.Set("curmsgs", Napi::Number::New(env, static_cast<double>(attr.mq_curmsgs)));
  return out;
}

static Napi::Value MqClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  mqd_t q;
  if (!FdArg(info, 0, &q)) return env.Undefined();
  if (mq_close(q) != 0) return ThrowErrno(env, errno, "mq_close");
  return env.Undefined();
}

static Napi::Value MqUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!StringArg(info, 0, "name", &name)) return env.Undefined();
  if (mq_unlink(name.c_str()) != 0) return ThrowErrno(env, errno, "mq_unlink");
  return env.Undefined();
}

void InitMq(Napi::Env env, Napi::Object exports) {
  ExportFunctions(env, exports, {{"mqOpen", MqOpen}, {"mqSend", MqSend}, {"mqSendBatch", MqSendBatch}, {"mqReceive", MqReceive},
                                 {"mqReceiveBatch", MqReceiveBatch}, {"mqGetAttr", MqGetAttr}, {"mqClose", MqClose}, {"mqUnlink", MqUnlink}});
  exports.Set("MQ_O_RDONLY", Napi::Number::New(env, O_RDONLY));
  exports.Set("MQ_O_WRONLY", Napi::Number::New(env, O_WRONLY));
  exports.Set("MQ_O_RDWR", Napi::Number::New(env, O_RDWR));
  exports.Set("MQ_O_CREAT", Napi::Number::New(env, O_CREAT));
  exports.Set("MQ_O_EXCL", Napi::Number::New(env, O_EXCL));
  exports.Set("MQ_O_NONBLOCK", Napi::Number::New(env, O_NONBLOCK));
  exports.Set("MQ_O_CLOEXEC", Napi::Number::New(env, O_CLOEXEC));
}

}  // namespace ipc
