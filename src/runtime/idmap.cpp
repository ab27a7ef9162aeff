#include "runtime/idmap.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace husk::runtime {

namespace {

constexpr uint32_t kInvalidId = 0xffffffffU; // (uid_t)-1, never mappable

void write_proc_file(const std::string& path, const std::string& text) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
        throw_errno("cannot open " + path);
    }
    ssize_t n = ::write(fd.get(), text.data(), text.size());
    if (n < 0) {
        throw_errno(std::string("cannot write \"") +
                    text.substr(0, text.find_last_not_of('\n') + 1) + "\" to " + path);
    }
    if (static_cast<size_t>(n) != text.size()) {
        throw Error("short write to " + path, EIO);
    }
}

} // namespace

IdMaps compute_id_maps(uint32_t host_uid, uint32_t host_gid, std::optional<uint32_t> want_uid,
                       std::optional<uint32_t> want_gid, bool fake_root) {
    if (fake_root && ((want_uid && *want_uid != 0) || (want_gid && *want_gid != 0))) {
        throw Error("--fake-root runs as uid 0 and gid 0; it cannot be combined with a "
                    "non-zero --uid or --gid");
    }
    if (want_uid == kInvalidId) {
        throw Error("--uid 4294967295 is not a valid user id");
    }
    if (want_gid == kInvalidId) {
        throw Error("--gid 4294967295 is not a valid group id");
    }
    IdMaps maps;
    maps.uid = {fake_root ? 0 : want_uid.value_or(host_uid), host_uid, 1};
    maps.gid = {fake_root ? 0 : want_gid.value_or(host_gid), host_gid, 1};
    return maps;
}

std::string format_id_map(const IdMap& map) {
    return std::to_string(map.inside) + " " + std::to_string(map.outside) + " " +
           std::to_string(map.count) + "\n";
}

void write_id_maps(const IdMaps& maps, const std::string& proc) {
    write_proc_file(proc + "/self/setgroups", "deny\n");
    write_proc_file(proc + "/self/gid_map", format_id_map(maps.gid));
    write_proc_file(proc + "/self/uid_map", format_id_map(maps.uid));
}

} // namespace husk::runtime
