/* Sockets in another network namespace: the calling thread enters the namespace only around
 * socket(), and the socket keeps the namespace it was created in. */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

int socket_in_netns(const char *netns_path, int domain, int type, int proto) {
  if (netns_path == NULL || netns_path[0] == '\0') {
    int fd = socket(domain, type, proto);
    return fd < 0 ? -errno : fd;
  }
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) return -errno;
  int target = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(orig);
    return -err;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(orig);
    return -err;
  }
  int fd = socket(domain, type, proto);
  int err = fd < 0 ? errno : 0;
  /* If we cannot get back, every later socket, file and connection of this thread would live
   * in the wrong namespace: that is not recoverable. */
  if (setns(orig, CLONE_NEWNET) != 0) napi_fatal_error("socket_in_netns", NAPI_AUTO_LENGTH, "setns back to the original netns failed", NAPI_AUTO_LENGTH);
  close(target);
  close(orig);
  return fd < 0 ? -err : fd;
}
