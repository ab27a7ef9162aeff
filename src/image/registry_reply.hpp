// What the image module's readers of untrusted JSON share: the registry
// client's two halves (registry.cpp, the network; registry_reply.cpp, the
// readers of replies) and the OCI layout reader (layered.cpp). Not for
// other modules.
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

/// The string member `key` of `obj` (any JSON value): "" when `obj` is not
/// an object or has no such member, or it is null. Where nlohmann's
/// value(key, "") would throw its own type_error, this names the field.
/// @throws husk::Error "WHERE: \"KEY\" is not a string" for a member of
///         another type.
std::string optional_string(const nlohmann::json& obj, const char* key, const std::string& where);

} // namespace husk::image
