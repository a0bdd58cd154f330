#include "common/net_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace cosmoseal::common {

bool isIpLiteral(std::string_view host) {
  struct sockaddr_storage ss;
  return sockaddrFromIpLiteral(host, 0, &ss);
}

bool sockaddrFromIpLiteral(std::string_view host, uint16_t port, struct sockaddr_storage* out,
                           socklen_t* len) {
  std::memset(out, 0, sizeof(*out));
  if (host.find('\0') != std::string_view::npos) return false;  // inet_pton would stop there
  const std::string z(host);  // inet_pton needs a NUL-terminated string
  auto* v4 = reinterpret_cast<struct sockaddr_in*>(out);
  if (inet_pton(AF_INET, z.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    if (len != nullptr) *len = sizeof(*v4);
    return true;
  }
  auto* v6 = reinterpret_cast<struct sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, z.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    if (len != nullptr) *len = sizeof(*v6);
    return true;
  }
  std::memset(out, 0, sizeof(*out));
  return false;
}

}  // namespace cosmoseal::common
