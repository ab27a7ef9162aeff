// `husk check`: what this host supports, step by step.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace husk::runtime {

/// One step of the host check.
struct CheckResult {
    std::string name; ///< "user namespace", "overlayfs in a user namespace", ...
    bool ok = false;
    bool required = true; ///< false: a feature some images or options need
    std::string detail;   ///< what was seen, or why it failed
};

/// Tries, in a forked child, each kernel feature husk run uses, in the order
/// a launch uses them (user namespace and id maps, mount namespace, tmpfs,
/// recursive bind, mount_setattr, overlayfs with userxattr, pivot_root,
/// unprivileged FUSE mount), plus the host fact that decides them
/// (user.max_user_namespaces). A step that fails skips the ones that
/// need it. Never throws for a failed step; it is a result.
std::vector<CheckResult> check_host();

/// Prints the results as "  ok    name: detail" lines.
/// @returns 0 when every required step passed, 1 otherwise.
int print_check(const std::vector<CheckResult>& results, std::ostream& out);

} // namespace husk::runtime
