#include "image/registry.hpp"

#include "image/http.hpp"
#include "image/layered.hpp"
#include "image/registry_reply.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/file.hpp"
#include "util/log.hpp"
#include "util/progress.hpp"
#include "util/text.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace husk::image {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxManifest = 4 << 20;
constexpr int kAttempts = 5; // the first and four retries

const char* kAccept = "Accept: application/vnd.oci.image.index.v1+json, "
                      "application/vnd.docker.distribution.manifest.list.v2+json, "
                      "application/vnd.oci.image.manifest.v1+json, "
                      "application/vnd.docker.distribution.manifest.v2+json";

bool is_index_type(const std::string& t) {
    return t == "application/vnd.oci.image.index.v1+json" ||
           t == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_manifest_type(const std::string& t) {
    return t == "application/vnd.oci.image.manifest.v1+json" ||
           t == "application/vnd.docker.distribution.manifest.v2+json";
}

std::string sha256_of(std::string_view data) {
    Sha256 h;
    h.update(data.data(), data.size());
    return "sha256:" + h.hex();
}

/// The PEM certificates of containers-certs.d(5) for `registry`.
std::string certs_for(const std::string& registry, const std::string& home) {
    std::string pem;
    for (const std::string& base :
         {home.empty() ? std::string() : home + "/.config/containers/certs.d",
          std::string("/etc/containers/certs.d")}) {
        if (base.empty()) {
            continue;
        }
        const std::string dir = base + "/" + registry;
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) {
            continue;
        }
        while (struct dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > 4 && n.compare(n.size() - 4, 4, ".crt") == 0) {
                try {
                    pem += file::read(dir + "/" + n, 1 << 20) + "\n";
                } catch (const Error&) {
                }
            }
        }
        ::closedir(d);
    }
    return pem;
}

/// One registry conversation: the scheme, the credentials, the token.
class Session {
  public:
    Session(const Reference& ref, const PullOptions& options)
        : ref_(ref), options_(options), shown_(ref.registry + "/" + ref.repository) {
        const char* h = std::getenv("HOME");
        home_ = h != nullptr ? h : "";
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) {
            env.emplace_back(*e);
        }
        credentials_ = find_credentials(ref.registry, home_, env);
        ca_pem_ = certs_for(ref.registry, home_);
        scheme_ = "https";
    }

    const std::string& shown() const { return shown_; }

    /// GET /v2/<repository>/<path>, authenticating as the registry asks.
    http::Response get(const std::string& path, const std::vector<std::string>& headers,
                       const std::function<bool(std::string_view)>& sink, uint64_t range_from,
                       size_t limit) {
        return get_v2(ref_.repository + "/" + path, headers, sink, range_from, limit);
    }

    /// HEAD /v2/<repository>/<path>: the status and headers only.
    http::Response head(const std::string& path, const std::vector<std::string>& headers) {
        return get_v2(ref_.repository + "/" + path, headers, {}, 0, 1 << 16, true);
    }

    /// The API check (distribution spec, "determining support"): GET /v2/,
    /// authenticating as the registry asks.
    /// @throws husk::Error when the server is no OCI registry or refuses.
    void check() {
        const http::Response r = get_v2("", {}, {}, 0, 1 << 16);
        if (r.status == 404) {
            throw Error(ref_.api_host() + " is not an OCI registry (GET /v2/ answered 404)");
        }
        if (r.status != 200 && r.status != 429 && r.status < 500) {
            throw Error(ref_.api_host() + ": GET /v2/ answered " + std::to_string(r.status));
        }
    }

  private:
    http::Response get_v2(const std::string& rest, const std::vector<std::string>& headers,
                          const std::function<bool(std::string_view)>& sink, uint64_t range_from,
                          size_t limit, bool head = false) {
        for (int round = 0;; ++round) {
            http::Request req;
            req.url = base() + "/v2/" + rest;
            req.headers = headers;
            if (const std::string a = authorization(); !a.empty()) {
                req.headers.push_back(a);
            }
            req.verify_tls = !options_.insecure;
            req.extra_ca_pem = ca_pem_;
            req.range_from = range_from;
            req.head = head;
            http::Response r = send(req, sink, limit);
            if (r.status == 401 && round == 0) {
                authenticate(r.header("www-authenticate"));
                continue;
            }
            if (r.status == 401) {
                throw Error(shown_ + ": the registry refused " +
                            (credentials_.empty()
                                 ? std::string("anonymous access")
                                 : std::string("the credentials of the auth file")) +
                            " (401)" + registry_error(r.body));
            }
            return r;
        }
    }

    std::string base() const { return scheme_ + "://" + ref_.api_host(); }

    std::string authorization() {
        std::lock_guard<std::mutex> g(mutex_);
        if (!token_.empty()) {
            return "Authorization: Bearer " + token_;
        }
        if (basic_ && !credentials_.empty()) {
            return "Authorization: Basic " + credentials_;
        }
        return "";
    }

    /// Sends, falling back to plain HTTP where that is allowed and the
    /// TLS handshake failed.
    http::Response send(http::Request& req, const std::function<bool(std::string_view)>& sink,
                        size_t limit) {
        try {
            return http::get(req, sink, limit);
        } catch (const http::NetworkError& e) {
            if (scheme_ == "https" && e.tls() && (ref_.is_local() || options_.insecure)) {
                http::Request plain = req;
                plain.url = "http" + req.url.substr(5);
                http::Response r = http::get(plain, sink, limit);
                if (r.status == 400) {
                    throw; // an HTTPS server after all, whose TLS failed: say so
                }
                std::lock_guard<std::mutex> g(mutex_);
                scheme_ = "http";
                req = plain;
                return r;
            }
            throw;
        }
    }

    void authenticate(const std::string& header) {
        const Challenge c = parse_challenge(header);
        std::lock_guard<std::mutex> g(mutex_);
        if (c.scheme == "basic") {
            if (credentials_.empty() || basic_) {
                throw Error(shown_ +
                            ": the registry wants credentials (basic auth), and no auth "
                            "file has any for " +
                            ref_.registry);
            }
            basic_ = true;
            return;
        }
        if (c.scheme != "bearer" || c.realm.empty()) {
            throw Error(shown_ +
                        ": the registry refused access (401) and asked for no known "
                        "authentication (WWW-Authenticate: " +
                        text::one_line(header.substr(0, 200)) + ")");
        }
        if (!token_.empty()) {
            throw Error(shown_ + ": the registry refused its own token (401)");
        }
        std::string url = c.realm;
        std::string sep = url.find('?') == std::string::npos ? "?" : "&";
        if (!c.service.empty()) {
            url += sep + "service=" + c.service;
            sep = "&";
        }
        url += sep + "scope=repository:" + ref_.repository + ":pull";
        http::Request req;
        req.url = url;
        req.verify_tls = !options_.insecure;
        req.extra_ca_pem = ca_pem_;
        if (!credentials_.empty()) {
            req.headers.push_back("Authorization: Basic " + credentials_);
        }
        const http::Response r = http::get(req, {}, 1 << 20);
        if (r.status == 401 || r.status == 403) {
            throw Error(shown_ + ": the token server " + c.realm.substr(0, c.realm.find('?')) +
                        " refused " +
                        (credentials_.empty() ? std::string("anonymous access")
                                              : std::string("the credentials of the auth file")) +
                        " (" + std::to_string(r.status) + ")");
        }
        if (r.status != 200) {
            throw Error(shown_ + ": the token server answered " + std::to_string(r.status));
        }
        const json j = parse_reply(r.body, shown_ + ": the token server's answer");
        for (const char* k : {"token", "access_token"}) {
            if (j.contains(k) && j[k].is_string() && !j[k].get<std::string>().empty()) {
                token_ = j[k].get<std::string>();
                return;
            }
        }
        throw Error(shown_ + ": the token server's answer has no token");
    }

    static std::string registry_error(const std::string& body) {
        try {
            const json j = json::parse(body);
            const json& e = j.at("errors").at(0);
            return ": " + text::one_line(e.value("code", "") + " " + e.value("message", ""));
        } catch (...) {
            return "";
        }
    }

    Reference ref_;
    PullOptions options_;
    std::string shown_;
    std::string home_;
    std::string credentials_;
    std::string ca_pem_;
    std::string scheme_;
    std::mutex mutex_;
    std::string token_;
    bool basic_ = false;
};

/// Retries `fn` on NetworkError, 429 and 5xx (which fn throws as
/// Retryable), with backoff 0.5, 1, 2, 4 s.
struct Retryable : Error {
    using Error::Error;
};

template <typename Fn> auto with_retries(Fn fn) {
    for (int attempt = 1;; ++attempt) {
        try {
            return fn();
        } catch (const http::NetworkError& e) {
            if (attempt >= kAttempts) {
                throw Error(std::string(e.what()) + " (after " + std::to_string(attempt) +
                            " attempts)");
            }
        } catch (const Retryable& e) {
            if (attempt >= kAttempts) {
                throw Error(std::string(e.what()) + " (after " + std::to_string(attempt) +
                            " attempts)");
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500 << (attempt - 1)));
    }
}

void check_status(const http::Response& r, const std::string& what) {
    if (r.status == 429 || r.status >= 500) {
        throw Retryable(what + ": the registry answered " + std::to_string(r.status));
    }
}

struct Manifest {
    std::string body;
    std::string digest;
    std::string media_type;
};

/// The digest of the manifest that the tag `tag` names now, by HEAD
/// (distribution spec, "checking if content exists"): its
/// Docker-Content-Digest header, sent with the same Accept as the GET so
/// that an index is named as such; "" when the registry answers otherwise,
/// gives no well-formed digest or cannot be reached (the GET then says why).
std::string head_digest(Session& s, const std::string& tag) {
    try {
        const http::Response r = s.head("manifests/" + tag, {kAccept});
        const std::string d = r.header("docker-content-digest");
        return r.status == 200 && is_sha256_digest(d) ? d : "";
    } catch (const http::NetworkError&) {
        return "";
    }
}

Manifest fetch_manifest(Session& s, const std::string& what, const std::string& shown) {
    Manifest m;
    const http::Response r = with_retries([&] {
        http::Response resp = s.get("manifests/" + what, {kAccept}, {}, 0, kMaxManifest);
        check_status(resp, shown);
        return resp;
    });
    if (r.status == 404) {
        throw Error(shown + ": no such manifest (404)");
    }
    if (r.status != 200) {
        throw Error(shown + ": the registry answered " + std::to_string(r.status));
    }
    m.body = r.body;
    m.digest = sha256_of(m.body);
    if (what.rfind("sha256:", 0) == 0 && m.digest != what) {
        throw Error(shown + ": digest mismatch: the registry's manifest is " + m.digest);
    }
    const json j = parse_reply(m.body, shown);
    m.media_type = optional_string(j, "mediaType", shown);
    if (m.media_type.empty()) {
        m.media_type = r.header("content-type");
        m.media_type = m.media_type.substr(0, m.media_type.find(';'));
    }
    return m;
}

/// Downloads one blob into the cache, resuming and verifying.
class BlobFetch {
  public:
    BlobFetch(Session& s, const std::string& dir, const std::string& digest, uint64_t size,
              std::string what)
        : s_(s), dir_(dir), digest_(digest), hex_(digest.substr(7)), size_(size),
          what_(std::move(what)) {}

    /// @returns the bytes fetched from the network.
    uint64_t run(std::atomic<uint64_t>& progress) {
        const std::string final_path = dir_ + "/" + hex_;
        const Fd lock = file::lock(final_path + ".lock");
        struct stat st {};
        if (::lstat(final_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<uint64_t>(st.st_size) == size_) {
            progress = size_;
            return 0; // cached (its digest is checked again where it is used)
        }
        const std::string part = final_path + ".part";
        Fd fd(::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd) {
            throw_errno("cannot create " + part);
        }
        uint64_t fetched = 0;
        with_retries([&] {
            // Resume: hash what an earlier try left, ask for the rest.
            Sha256 hash;
            uint64_t have = 0;
            if (::lseek(fd.get(), 0, SEEK_SET) != 0) {
                throw_errno("cannot seek " + part);
            }
            char buf[1 << 16];
            for (;;) {
                const ssize_t n = ::read(fd.get(), buf, sizeof buf);
                if (n < 0) {
                    throw_errno("cannot read " + part);
                }
                if (n == 0) {
                    break;
                }
                hash.update(buf, static_cast<size_t>(n));
                have += static_cast<uint64_t>(n);
            }
            if (have > size_) {
                (void)!::ftruncate(fd.get(), 0);
                hash = Sha256();
                have = 0;
                ::lseek(fd.get(), 0, SEEK_SET);
            }
            progress = have;
            bool overflow = false;
            const auto sink = [&](std::string_view chunk) {
                if (have + chunk.size() > size_) {
                    overflow = true;
                    return false;
                }
                file::write_all(fd.get(), chunk, part);
                hash.update(chunk.data(), chunk.size());
                have += chunk.size();
                fetched += chunk.size();
                progress += chunk.size();
                return true;
            };
            http::Response r;
            try {
                r = have == size_ ? http::Response{200, {}, {}}
                                  : s_.get("blobs/" + digest_, {}, sink, have, 1 << 16);
            } catch (const http::NetworkError&) {
                if (overflow) {
                    // More than the descriptor's size: a server that
                    // ignored the Range request, or a wrong blob. Start over.
                    (void)!::ftruncate(fd.get(), 0);
                    throw Retryable(what_ + ": the blob is larger than its manifest says (" +
                                    std::to_string(size_) + " bytes)");
                }
                throw;
            }
            check_status(r, what_);
            if (r.status == 416) {
                (void)!::ftruncate(fd.get(), 0);
                throw Retryable(what_ + ": the registry could not resume the download");
            }
            if (r.status != 200 && r.status != 206) {
                throw Error(what_ + ": the registry answered " + std::to_string(r.status) +
                            " for the blob");
            }
            if (have > size_) {
                throw Error(what_ + ": the blob is larger than its manifest says (" +
                            std::to_string(size_) + " bytes)");
            }
            if (have < size_) {
                throw http::NetworkError(what_ + ": the download ended after " +
                                             std::to_string(have) + " of " + std::to_string(size_) +
                                             " bytes",
                                         false);
            }
            const std::string got = "sha256:" + hash.hex();
            if (got != digest_) {
                (void)!::ftruncate(fd.get(), 0);
                throw Error(what_ + ": digest mismatch: the registry sent " + got);
            }
            return 0;
        });
        if (::fsync(fd.get()) != 0 || ::rename(part.c_str(), final_path.c_str()) != 0) {
            throw_errno("cannot store " + final_path);
        }
        return fetched;
    }

  private:
    Session& s_;
    std::string dir_;
    std::string digest_;
    std::string hex_;
    uint64_t size_;
    std::string what_;
};

void make_dirs(const std::string& dir) {
    std::string path;
    for (const auto part : text::split(dir, '/')) {
        path += "/" + std::string(part);
        if (part.empty()) {
            path.pop_back();
            continue;
        }
        if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
            throw_errno("cannot create " + path);
        }
    }
}

} // namespace

Pulled pull(const Reference& ref, const std::string& blob_dir, const PullOptions& options) {
    const auto reuse = [&](const std::string& digest) {
        Pulled at_hand;
        at_hand.top_digest = digest;
        at_hand.reused = options.reuse && options.reuse(digest, at_hand);
        return at_hand;
    };
    if (!ref.digest.empty()) { // at hand already: no request at all
        if (Pulled p = reuse(ref.digest); p.reused) {
            return p;
        }
    }
    Session s(ref, options);
    const std::string shown = s.shown() + ":" + (ref.digest.empty() ? ref.tag : ref.digest);
    Pulled out;
    with_retries([&] {
        s.check();
        return 0;
    });
    if (ref.digest.empty() && options.reuse) {
        if (const std::string d = head_digest(s, ref.tag); !d.empty()) {
            if (Pulled p = reuse(d); p.reused) {
                return p;
            }
        }
    }
    Manifest m = fetch_manifest(s, ref.what(), shown);
    out.top_digest = m.digest;
    const bool index = is_index_type(m.media_type) ||
                       (m.media_type.empty() && parse_reply(m.body, shown).contains("manifests"));
    if (index) {
        const std::string digest = index_choice(m.body, options.platform, shown, &out.platform);
        m = fetch_manifest(s, digest, shown + " (" + out.platform.str() + ")");
    } else if (!is_manifest_type(m.media_type) && !m.media_type.empty()) {
        throw Error(shown + ": a manifest of type " + text::one_line(m.media_type) +
                    ", which husk cannot pull (OCI or Docker schema 2 manifests and indexes)");
    }
    const std::vector<Descriptor> jobs = manifest_blobs(m.body, shown);
    out.manifest = m.body;
    out.manifest_digest = m.digest;
    out.media_type =
        m.media_type.empty() ? "application/vnd.oci.image.manifest.v1+json" : m.media_type;
    if (out.platform.architecture.empty()) {
        // A single-platform manifest: its config says for what.
        out.platform = options.platform;
    }
    const std::string dir = blob_dir + "/sha256";
    make_dirs(dir);
    uint64_t total = 0;
    for (const auto& j : jobs) {
        out.blobs.push_back(j.digest);
        total += j.size;
        if (options.max_bytes > 0 && (j.size > options.max_bytes || total > options.max_bytes)) {
            throw Error(shown + ": its blobs are more than " + std::to_string(options.max_bytes) +
                        " bytes (max_unpack_bytes, husk.json(5))");
        }
    }
    // Each blob's bytes so far, for its progress line.
    std::unique_ptr<std::atomic<uint64_t>[]> progress(new std::atomic<uint64_t>[jobs.size()]());
    std::atomic<uint64_t> fetched{0};
    std::atomic<size_t> next{0};
    std::mutex failure_mutex;
    std::exception_ptr failure;
    std::atomic<bool> failed{false};
    const auto worker = [&] {
        for (;;) {
            const size_t i = next++;
            if (i >= jobs.size() || failed) {
                return;
            }
            try {
                BlobFetch f(s, dir, jobs[i].digest, jobs[i].size, jobs[i].what);
                fetched += f.run(progress[i]);
            } catch (...) {
                std::lock_guard<std::mutex> g(failure_mutex);
                if (!failure) {
                    failure = std::current_exception();
                }
                failed = true;
                return;
            }
        }
    };
    {
        std::optional<log::MultiProgress> bar;
        if (options.progress) {
            std::vector<std::string> labels;
            std::vector<uint64_t> sizes;
            for (size_t i = 0; i < jobs.size(); ++i) {
                const std::string id = jobs[i].digest.substr(7, 12);
                labels.push_back(i == 0 ? "config      " + id
                                        : "layer " + std::to_string(i) + "/" +
                                              std::to_string(jobs.size() - 1) + " " + id);
                sizes.push_back(jobs[i].size);
            }
            bar.emplace(std::move(labels), std::move(sizes), "pulling " + ref.str());
        }
        const unsigned threads =
            std::max(1u, std::min<unsigned>(options.parallel, static_cast<unsigned>(jobs.size())));
        std::vector<std::thread> pool;
        for (unsigned t = 1; t < threads; ++t) {
            pool.emplace_back(worker);
        }
        std::thread ticker;
        std::atomic<bool> done{false};
        if (bar && bar->enabled()) {
            ticker = std::thread([&] {
                std::vector<uint64_t> now(jobs.size());
                while (!done) {
                    for (size_t i = 0; i < jobs.size(); ++i) {
                        now[i] = progress[i].load();
                    }
                    bar->draw(now);
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
            });
        }
        worker();
        for (auto& t : pool) {
            t.join();
        }
        done = true;
        if (ticker.joinable()) {
            ticker.join();
        }
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
    out.downloaded = fetched;
    return out;
}

void write_layout(const Pulled& pulled, const std::string& blob_dir,
                  const std::string& layout_dir) {
    if (::mkdir(layout_dir.c_str(), 0700) != 0) {
        throw_errno("cannot create " + layout_dir);
    }
    make_dirs(layout_dir + "/blobs/sha256");
    file::write(layout_dir + "/oci-layout", R"({"imageLayoutVersion": "1.0.0"})");
    const std::string mhex = pulled.manifest_digest.substr(7);
    file::write(layout_dir + "/blobs/sha256/" + mhex, pulled.manifest);
    json index = {{"schemaVersion", 2},
                  {"mediaType", "application/vnd.oci.image.index.v1+json"},
                  {"manifests", json::array({{{"mediaType", pulled.media_type},
                                              {"digest", pulled.manifest_digest},
                                              {"size", pulled.manifest.size()}}})}};
    file::write(layout_dir + "/index.json", index.dump());
    for (const auto& d : pulled.blobs) {
        const std::string hex = d.substr(7);
        const std::string from = blob_dir + "/sha256/" + hex;
        const std::string to = layout_dir + "/blobs/sha256/" + hex;
        if (::link(from.c_str(), to.c_str()) != 0 && errno != EEXIST) {
            throw_errno("cannot link " + from + " into " + layout_dir);
        }
    }
}

} // namespace husk::image
