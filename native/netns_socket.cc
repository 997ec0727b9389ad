// A socket made inside another network namespace, for the health checker:
// a container's service is probed from the container's own namespace (its
// loopback, its routes), never from the host's. A socket belongs to the
// namespace it was created in for its whole life, so only the socket() call
// needs the namespace: it runs on a short-lived thread that enters it
// (setns() changes that thread alone), and the descriptor comes back to
// Node, which connects it on its own event loop like any other socket.
#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

namespace weft {

static Napi::Value SocketIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "socketIn(netnsPath): a path is required");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = -1, err = 0;
  const char* what = "";
  std::thread t([&] {
    int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
      err = errno, what = "open";
      return;
    }
    if (setns(ns, CLONE_NEWNET) < 0) {
      err = errno, what = "enter";
      close(ns);
      return;
    }
    close(ns);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) err = errno, what = "make a socket in";
  });
  t.join();
  if (fd < 0) throw Napi::Error::New(env, std::string("cannot ") + what + " " + path + ": " + std::strerror(err));
  return Napi::Number::New(env, fd);
}

void InitNetnsSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("socketIn", Napi::Function::New<SocketIn>(env, "socketIn"));
}

}  // namespace weft
