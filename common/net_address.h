#pragma once

// IP literals (no DNS): what listeners bind to and how upstream hosts are told from names.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace cosmoseal::common {

// True if `host` is an IPv4 dotted quad or an IPv6 literal as inet_pton accepts them (no
// brackets, no zone id).
bool isIpLiteral(std::string_view host);

// Fills *out (zeroed first) with `host`:`port` if `host` is an IP literal (as above); *len gets
// the size of the filled sockaddr. False (and *out zeroed) for anything else, e.g. a DNS name.
bool sockaddrFromIpLiteral(std::string_view host, uint16_t port, struct sockaddr_storage* out,
                           socklen_t* len = nullptr);

}  // namespace cosmoseal::common
