// What the store commands print.
#pragma once

#include "host/cdi.hpp"

#include "image/image.hpp"
#include "image/store.hpp"
#include "util/config.hpp"

#include <ostream>
#include <vector>

namespace husk::cli {

/// `husk images`: a table NAME FORMAT SIZE CREATED, or with `json` one array
/// of {"name", "format", "path", "bytes", "created"} objects.
void print_images(const std::vector<image::StoredImage>& images, bool json, std::ostream& out);

/// `husk inspect`: the image's kind, path and OCI config, as text or JSON
/// ({"path", "kind", "config": {"Env", "Entrypoint", "Cmd", "WorkingDir", "User"}}).
void print_inspect(const image::Image& img, bool json, std::ostream& out);

/// `husk check`'s settings table: a heading, then one line per setting,
/// "  name  value  (where it came from)".
/// `husk cdi list`: one line per device, "NAME  SPEC-FILE", sorted by name,
/// or with `json` an array of {"name", "kind", "spec"} objects.
void print_cdi_devices(const host::cdi::Registry& registry, bool json, std::ostream& out);

void print_settings(const std::vector<config::Shown>& settings, std::ostream& out);

} // namespace husk::cli
