#include "image/http.hpp"

#include "util/file.hpp"
#include "util/text.hpp"

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include <cctype>
#include <dlfcn.h>
#include <mutex>

namespace husk::image::http {

namespace {

/// libcurl's entry points, from the shared library (libcurl4's soname).
struct Curl {
    CURLcode (*global_init)(long);
    CURL* (*easy_init)();
    CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
    CURLcode (*easy_perform)(CURL*);
    CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
    void (*easy_cleanup)(CURL*);
    const char* (*easy_strerror)(CURLcode);
    curl_slist* (*slist_append)(curl_slist*, const char*);
    void (*slist_free_all)(curl_slist*);
};

const Curl& curl() {
    static Curl c{};
    static std::string failed;
    static std::once_flag once;
    std::call_once(once, [] {
        void* lib = nullptr;
        for (const char* soname : {"libcurl.so.4", "libcurl-gnutls.so.4"}) {
            lib = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
            if (lib != nullptr) {
                break;
            }
        }
        if (lib == nullptr) {
            failed = "cannot load libcurl (libcurl.so.4), which talking to registries needs; "
                     "install the package libcurl4";
            return;
        }
        const auto sym = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
            if (fn == nullptr && failed.empty()) {
                failed = std::string("libcurl.so.4 lacks ") + name;
            }
        };
        sym(c.global_init, "curl_global_init");
        sym(c.easy_init, "curl_easy_init");
        sym(c.easy_setopt, "curl_easy_setopt");
        sym(c.easy_perform, "curl_easy_perform");
        sym(c.easy_getinfo, "curl_easy_getinfo");
        sym(c.easy_cleanup, "curl_easy_cleanup");
        sym(c.easy_strerror, "curl_easy_strerror");
        sym(c.slist_append, "curl_slist_append");
        sym(c.slist_free_all, "curl_slist_free_all");
        if (failed.empty() && c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            failed = "libcurl failed to initialise";
        }
    });
    if (!failed.empty()) {
        throw Error(failed);
    }
    return c;
}

/// What a transfer's callbacks share.
struct Transfer {
    Response* response;
    const std::function<bool(std::string_view)>* sink;
    size_t limit;
    bool too_large = false;
    bool stopped = false;
    CURL* handle;
};

size_t on_header(char* data, size_t size, size_t n, void* arg) {
    auto* t = static_cast<Transfer*>(arg);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) {
        t->response->headers.clear(); // a new response (after a redirect or 100)
        return size * n;
    }
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        for (auto& ch : name) {
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() &&
               (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
            value.remove_suffix(1);
        }
        t->response->headers[name] = std::string(value);
    }
    return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* arg) {
    auto* t = static_cast<Transfer*>(arg);
    const size_t len = size * n;
    long status = 0;
    curl().easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
    if (t->sink != nullptr && *t->sink && status >= 200 && status < 300) {
        if (!(*t->sink)(std::string_view(data, len))) {
            t->stopped = true;
            return 0; // curl fails the transfer with CURLE_WRITE_ERROR
        }
        return len;
    }
    if (t->response->body.size() + len > t->limit) {
        t->too_large = true;
        return 0;
    }
    t->response->body.append(data, len);
    return len;
}

std::string system_cas() {
    for (const char* f :
         {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}) {
        try {
            return file::read(f, 16 << 20);
        } catch (const Error&) {
        }
    }
    return "";
}

} // namespace

Response get(const Request& request, const std::function<bool(std::string_view)>& sink,
             size_t limit) {
    const Curl& c = curl();
    CURL* h = c.easy_init();
    if (h == nullptr) {
        throw Error("libcurl could not make a handle");
    }
    Response response;
    Transfer t{&response, &sink, limit, false, false, h};
    curl_slist* headers = nullptr;
    for (const auto& line : request.headers) {
        headers = c.slist_append(headers, line.c_str());
    }
    std::string cas;
    curl_blob blob{};
    const std::string range = std::to_string(request.range_from) + "-";
    c.easy_setopt(h, CURLOPT_URL, request.url.c_str());
    c.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    c.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    c.easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    c.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    c.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_s);
    c.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    c.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, request.stall_timeout_s);
    c.easy_setopt(h, CURLOPT_USERAGENT, "husk/" HUSK_VERSION);
    c.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    c.easy_setopt(h, CURLOPT_HEADERDATA, &t);
    c.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    c.easy_setopt(h, CURLOPT_WRITEDATA, &t);
    if (request.range_from > 0) {
        c.easy_setopt(h, CURLOPT_RANGE, range.c_str());
    }
    if (request.head) {
        c.easy_setopt(h, CURLOPT_NOBODY, 1L);
    }
    if (!request.verify_tls) {
        c.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        c.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!request.extra_ca_pem.empty()) {
        cas = system_cas() + "\n" + request.extra_ca_pem;
        blob.data = cas.data();
        blob.len = cas.size();
        blob.flags = CURL_BLOB_NOCOPY;
        c.easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    const CURLcode rc = c.easy_perform(h);
    c.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    c.easy_cleanup(h);
    c.slist_free_all(headers);
    if (t.too_large) {
        throw Error(request.url + ": the answer is larger than " + std::to_string(limit) +
                    " bytes");
    }
    if (rc != CURLE_OK && !(t.stopped && rc == CURLE_WRITE_ERROR)) {
        // The handshake itself failed (a server that speaks plain HTTP says
        // "wrong version number"); not a certificate that failed its check.
        const bool tls = rc == CURLE_SSL_CONNECT_ERROR;
        throw NetworkError(request.url + ": " + c.easy_strerror(rc), tls);
    }
    if (t.stopped) {
        throw NetworkError(request.url + ": the transfer was stopped", false);
    }
    return response;
}

std::string base64(std::string_view data) {
    static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        const uint32_t v = (static_cast<uint8_t>(data[i]) << 16) |
                           (static_cast<uint8_t>(data[i + 1]) << 8) |
                           static_cast<uint8_t>(data[i + 2]);
        out += digits[(v >> 18) & 63];
        out += digits[(v >> 12) & 63];
        out += digits[(v >> 6) & 63];
        out += digits[v & 63];
    }
    if (i < data.size()) {
        uint32_t v = static_cast<uint8_t>(data[i]) << 16;
        if (i + 1 < data.size()) {
            v |= static_cast<uint8_t>(data[i + 1]) << 8;
        }
        out += digits[(v >> 18) & 63];
        out += digits[(v >> 12) & 63];
        out += i + 1 < data.size() ? digits[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string unbase64(std::string_view text, bool& ok) {
    ok = false;
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    size_t pad = 0;
    for (char ch : text) {
        int v;
        if (ch >= 'A' && ch <= 'Z') {
            v = ch - 'A';
        } else if (ch >= 'a' && ch <= 'z') {
            v = ch - 'a' + 26;
        } else if (ch >= '0' && ch <= '9') {
            v = ch - '0' + 52;
        } else if (ch == '+' || ch == '-') {
            v = 62;
        } else if (ch == '/' || ch == '_') {
            v = 63;
        } else if (ch == '=') {
            ++pad;
            continue;
        } else {
            return "";
        }
        if (pad > 0) {
            return ""; // data after padding
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    ok = pad <= 2;
    return out;
}

} // namespace husk::image::http
