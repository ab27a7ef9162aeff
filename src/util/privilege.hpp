// The refusal of a privileged husk: checked first thing by every program.
#pragma once

namespace husk::privilege {

/// Refuses to go on if the running binary (/proc/self/exe) is setuid or
/// setgid, carries file capabilities (the security.capability xattr,
/// capabilities(7)), or if the process runs with effective ids different
/// from its real ones. husk is designed for unprivileged use only: a
/// setuid-root copy would turn every command that writes (convert, import,
/// the cache) into a write as root for any user. Call it before anything
/// else, option parsing included; it only reads.
/// @throws husk::Error saying which of the three it found and how to fix it.
void refuse_elevated();

} // namespace husk::privilege
