// The launch pipeline of `husk run`.
#pragma once

#include "runtime/plan.hpp"
#include "runtime/run_options.hpp"
#include "util/config.hpp"

namespace husk::runtime {

/// unshare(2) a user and a mount namespace and write the id maps
/// (user_namespaces(7)).
/// @throws husk::Error naming the failed step; EPERM/ENOSPC point at
///         user.max_user_namespaces or a distribution switch.
void enter_namespaces(const IdMaps& ids);

class FuseServer;

/// Enters the namespaces, builds the root, sets PR_SET_NO_NEW_PRIVS, enters
/// the working directory, and runs the command (run_command()). For a
/// SquashFS image, `server` (not null) serves it from this process, and husk
/// waits for every process the command started before it returns.
/// @returns the command's exit status (see process.hpp).
/// @throws husk::Error for any failure of husk itself.
int launch(const LaunchPlan& p, FuseServer* server = nullptr);

/// `husk run`: resolve the image (a stored name through the settings'
/// store, an archive unpacked into its cache), gather host facts, plan,
/// launch.
/// @returns the command's exit status; @throws husk::Error (exit 125).
int run(const RunOptions& opts, const config::Settings& settings);

} // namespace husk::runtime
