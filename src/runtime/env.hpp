// Environment assembly for the container: what wins over what.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace husk::runtime {

/// An ordered environment: KEY=VALUE strings, one per key. set() of a key that
/// exists replaces it in place, so the host's order is kept.
class Environment {
  public:
    Environment() = default;
    /// Takes KEY=VALUE strings (e.g. environ(7)); entries without '=' are
    /// dropped, a later duplicate replaces an earlier one.
    explicit Environment(const std::vector<std::string>& entries);

    void set(std::string_view key, std::string_view value);
    /// "KEY=VALUE"; false (and nothing set) when there is no '=' or no key.
    bool set_entry(std::string_view entry);
    std::optional<std::string> get(std::string_view key) const;
    /// Removes every variable whose name matches the fnmatch(3) pattern.
    void unset_matching(std::string_view glob);
    const std::vector<std::string>& entries() const noexcept { return entries_; }

  private:
    void reindex();

    std::vector<std::string> entries_; ///< "KEY=VALUE", in the order first set
    /// KEY → its position in entries_: set() and get() in constant time,
    /// so an image config with 100,000 Env entries takes no longer than
    /// reading it.
    std::unordered_map<std::string, size_t> index_;
};

/// The value of `key` in KEY=VALUE `entries` as Environment(entries) would
/// give it (a later duplicate wins), without building one: a view into
/// `entries`; nullopt where it is not set.
std::optional<std::string_view> env_value(const std::vector<std::string>& entries,
                                          std::string_view key);
/// Not of a temporary: the view would outlive it.
std::optional<std::string_view> env_value(std::vector<std::string>&& entries,
                                          std::string_view key) = delete;

/// A file given with --env-file, already read: `name` for messages.
struct EnvFile {
    std::string name;
    std::string content;
};

/// One line of an env file: `value` is nullopt for a bare KEY (take the host's).
struct EnvSetting {
    std::string key;
    std::optional<std::string> value;
};

/// Parses an --env-file, following `docker run --env-file`: one KEY=VALUE per
/// line taken literally (no quotes or escapes), a bare KEY takes the host's
/// value, blank lines and lines starting with '#' are skipped.
/// @throws husk::Error "<name>:<line>: ..." for a line without a valid name.
std::vector<EnvSetting> parse_env_file(const EnvFile& file);

/// Whether `key` is a usable variable name: non-empty, no '=', no NUL or
/// whitespace.
bool valid_env_name(std::string_view key);

/// PATH when neither the host nor the image gives one (Debian's default for
/// a login shell, with the sbin folders).
inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the container's environment is made from.
struct EnvInputs {
    std::vector<std::string> host;  ///< the caller's environ, KEY=VALUE
    std::vector<std::string> image; ///< OCI image config Env, KEY=VALUE
    std::string home;               ///< value for HOME
    std::vector<EnvFile> files;     ///< --env-file, in order
    std::vector<std::string> cli;   ///< -e/--env: KEY=VALUE or KEY (host's value)
    std::vector<std::string> unset; ///< --unset-env patterns
};

/// Builds the container's environment. Later steps win:
/// 1. the host environment (passed through, as ch-run does);
/// 2. the image's OCI config Env;
/// 3. HOME = inputs.home; PATH = kDefaultPath if unset or empty, else /usr/bin
///    and /bin appended when missing;
/// 4. --env-file files in order; 5. -e/--env in order;
/// 6. --unset-env patterns, last, so they can remove anything above.
/// @throws husk::Error for a malformed -e or env-file line.
std::vector<std::string> assemble_env(const EnvInputs& inputs);

} // namespace husk::runtime
