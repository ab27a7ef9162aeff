// What the registry client's two halves share (registry.cpp, the network;
// registry_reply.cpp, the readers of replies). Not for other modules.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace husk::image {

/// `text`, a registry's reply (or an auth file) named `where`, as a JSON
/// object.
/// @throws husk::Error "WHERE: not valid JSON (...)" / "WHERE: not a JSON
///         object".
nlohmann::json parse_reply(const std::string& text, const std::string& where);

} // namespace husk::image
