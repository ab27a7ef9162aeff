// What the registry client's two halves share (registry.cpp, the network;
// registry_reply.cpp, the readers of replies). Not for other modules.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace husk::image {

/// Whether `d` is "sha256:" and 64 lower-case hex digits: a digest that may
/// name a file of the blob cache or the store (OCI image-spec descriptor.md,
/// "digests").
bool is_sha256_digest(std::string_view d);

/// `text`, a registry's reply (or an auth file) named `where`, as a JSON
/// object.
/// @throws husk::Error "WHERE: not valid JSON (...)" / "WHERE: not a JSON
///         object".
nlohmann::json parse_reply(const std::string& text, const std::string& where);

} // namespace husk::image
