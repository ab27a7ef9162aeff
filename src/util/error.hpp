// husk::Error — the one exception type of the husk library.
#pragma once

#include <string>
#include <vector>

namespace husk {

/// A failure of husk itself (not of the user's command).
///
/// Carries a message ("cannot bind /scratch to /data"), the errno of the failed
/// call when there is one (0 otherwise), and a trail of context that callers add
/// while it unwinds ("while preparing the root filesystem"). `main()` prints it
/// as one line, `husk: error: <what> (<strerror>)`, and the trail only at `-v`.
/// Library code throws it and never calls exit().
class Error : public std::exception {
  public:
    /// @param message what failed, naming the path, option or field.
    /// @param err     errno of the failed call, or 0.
    explicit Error(std::string message, int err = 0);

    /// Appends one level of context (outermost last) and returns *this, so a
    /// catch block can `throw e.add_context("while ...")` or rethrow.
    Error& add_context(std::string context);

    const char* what() const noexcept override { return line_.c_str(); }
    const std::string& message() const noexcept { return message_; }
    int err() const noexcept { return err_; }
    const std::vector<std::string>& trail() const noexcept { return trail_; }

  private:
    std::string message_;
    int err_;
    std::vector<std::string> trail_;
    std::string line_; // message_ plus " (strerror)"; what() returns it
};

/// Throws Error(message, errno) with the current errno. Call it right after the
/// failed system call, before anything else can change errno.
[[noreturn]] void throw_errno(std::string message);

} // namespace husk
