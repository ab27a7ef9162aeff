// HTTP(S) GET through libcurl (Debian's libcurl4), loaded with dlopen(3) on
// first use: husk's start, and every husk that never talks to a registry,
// pays nothing for it, and the installed husk links libc alone.
#pragma once

#include "util/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace husk::image::http {

/// A failure to talk to the server at all (connection refused or reset, a
/// timeout, a TLS error, a transfer cut short): worth a retry, unlike an
/// answer the server gave.
class NetworkError : public Error {
  public:
    NetworkError(const std::string& what, bool tls) : Error(what), tls_(tls) {}
    /// The TLS handshake failed, not the certificate check (the server may
    /// speak plain HTTP).
    bool tls() const noexcept { return tls_; }

  private:
    bool tls_;
};

/// One GET (or HEAD).
struct Request {
    std::string url;
    std::vector<std::string> headers; ///< "Name: value"
    /// PEM certificates trusted besides the system's (containers-certs.d(5)
    /// CAs of the registry); "" for the system's alone.
    std::string extra_ca_pem;
    bool verify_tls = true;      ///< false: --insecure
    uint64_t range_from = 0;     ///< > 0: ask for the bytes from there on (206)
    bool head = false;           ///< HEAD: the status and headers, no body (RFC 9110 9.3.2)
    long connect_timeout_s = 30; ///< connecting, seconds
    long stall_timeout_s = 60;   ///< a body that sends nothing that long, seconds
};

/// The answer: status, headers (names lower-case; the last of repeated
/// ones), and the body when no sink took it.
struct Response {
    long status = 0;
    std::map<std::string, std::string> headers;
    std::string body;

    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? "" : it->second;
    }
};

/// Sends the GET (or HEAD), following redirects (an Authorization header is not sent
/// to another host: curl's rule). A 2xx body goes to `sink` in pieces when
/// one is given (return false to stop: the transfer then fails); any other
/// body, or every body without a sink, is kept in Response::body up to
/// `limit` bytes.
/// @throws NetworkError when no answer came (with curl's reason);
///         husk::Error when libcurl cannot be loaded ("install libcurl4"),
///         or a body is larger than `limit`.
Response get(const Request& request, const std::function<bool(std::string_view)>& sink = {},
             size_t limit = 4 << 20);

/// RFC 4648 base64 of `data` (for Basic credentials).
std::string base64(std::string_view data);
/// The bytes of base64 `text`; nullopt-like "" with ok=false when invalid.
std::string unbase64(std::string_view text, bool& ok);

} // namespace husk::image::http
