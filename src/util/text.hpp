// Splitting text: the one place that cuts strings at a separator.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace husk::text {

/// Whether split() keeps the empty pieces between adjacent separators.
enum class Empty { Keep, Drop };

/// Cuts `text` at every `sep`: split("a::b", ':') -> {"a", "", "b"};
/// split("", ':') -> {""}; with Empty::Drop, {"a", "b"} and {}. The pieces
/// point into `text`, which must outlive them.
std::vector<std::string_view> split(std::string_view text, char sep, Empty empty = Empty::Keep);

/// The lines of `text`, without their '\n'; a final newline does not start
/// another line: lines("a\n\nb\n") -> {"a", "", "b"}, lines("") -> {}.
std::vector<std::string_view> lines(std::string_view text);

/// The strings of `parts` with `sep` between each two: join({"a", "b"},
/// ", ") -> "a, b"; "" for none.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

/// `text` without the spaces and tabs at its ends: trim(" a b\t") -> "a b".
/// Points into `text`, which must outlive it.
std::string_view trim(std::string_view text);

/// `text` fit for a one-line message: each control character (below 0x20,
/// and 0x7f) escaped as \n, \t, \r or \xHH; everything else as it is.
/// For text that comes from a file into an error: one error, one line.
std::string one_line(std::string_view text);

/// FNV-1a of `text`, 64 bits, as 16 hex digits: names cache entries and
/// sockets in the user's own folders. Not a security boundary.
std::string hash_hex(std::string_view text);

} // namespace husk::text
