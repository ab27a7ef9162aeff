// A bind mount asked for by the user (-b) or the site config (binds).
#pragma once

#include <string>
#include <string_view>

namespace husk {

/// One bind, SRC[:DST[:ro|rw]]: `source` is a host path, `target` a path in
/// the container (equal to `source` when DST is omitted).
struct BindSpec {
    std::string source;
    std::string target;
    bool read_only = false;
    /// The canonical host path of `source`, filled where the host is looked
    /// at (runtime::gather_host_facts()); "" before, or where a site bind's
    /// source is missing on this node.
    std::string resolved = {};

    bool operator==(const BindSpec&) const = default;
};

/// Parses SRC[:DST[:ro|rw]] (the -b syntax of ch-run and docker run).
/// @throws husk::Error, without naming where the text came from (the caller
///         adds that): an empty SRC or DST, a flag other than ro or rw, or
///         more than three fields.
BindSpec parse_bind(std::string_view spec);

} // namespace husk
