// What the files of host::cdi share: the versions, one-line messages, the
// limits on a document, and the YAML side (cdi_yaml.cpp: libyaml's event parser into
// the JSON tree the validator reads, and its emitter for husk cdi
// generate). Internal to the host module; include only from src/host/cdi*.
#pragma once

#include "host/cdi.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace husk::host::cdi::detail {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

/// The versions read, oldest first; an index into it is what the
/// validator compares, and what the writer raises to what the fields need.
inline constexpr const char* kVersions[] = {"0.3.0", "0.4.0", "0.5.0", "0.6.0",
                                            "0.7.0", "0.8.0", "1.0.0", "1.1.0"};
inline constexpr int kNumVersions = static_cast<int>(std::size(kVersions));
enum : int { V030 = 0, V040, V050, V060, V070, V080, V100, V110 };

/// The index of version `v` in kVersions, or -1.
inline int version_index(std::string_view v) {
    for (int i = 0; i < kNumVersions; ++i) {
        if (v == kVersions[i]) {
            return i;
        }
    }
    return -1;
}

/// The schema is at most 6 levels deep (devices[].containerEdits.hooks[].args[]);
/// anything much deeper is not a spec, and is refused before it costs stack.
inline constexpr int kMaxDepth = 16;
/// What a YAML document may expand to through its aliases (each node 64,
/// plus its text), against "billion laughs".
inline constexpr size_t kMaxYamlCost = 8 * kMaxSpecBytes;

/// `s` fit for a one-line message: control characters escaped, cut at
/// `limit` bytes.
std::string shown(std::string_view s, size_t limit = 80);
/// A husk::Error whose message is one line whatever the file names, paths
/// and values in it hold: control characters escaped.
Error line_error(const std::string& message, int err = 0);
/// `s` shown, in double quotes.
std::string quote(std::string_view s);
/// Why `s` cannot be a spec's text, or "": a NUL byte, bytes that are not
/// UTF-8, or a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF:
/// YAML has no way to write one, and a reader replaces it).
std::string text_problem(std::string_view s);

inline bool is_letter(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
inline bool is_alnum(char c) {
    return is_letter(c) || (c >= '0' && c <= '9');
}

/// One YAML document (`file` names it in errors) as the JSON tree the
/// validator reads: scalars as text (plain or quoted), untagged plain
/// nulls as null, aliases copied (within kMaxYamlCost), at most kMaxDepth
/// levels; duplicate keys, keys that are not text, no document or a second
/// one refused. UTF-8 only (a byte-order mark cannot make it UTF-16).
/// @throws husk::Error, one line naming the file and the line and column
///         (the byte, for bytes that are not UTF-8).
json parse_yaml(std::string_view text, const std::string& file);

/// `v` as one block-style YAML document starting with "---", each string
/// plain where a YAML 1.1 or 1.2 reader reads it back as the same text,
/// else double-quoted.
std::string write_yaml(const ojson& v);

} // namespace husk::host::cdi::detail
