#include "host/edits.hpp"

namespace husk::host {

void ContainerEdits::append(const ContainerEdits& other) {
    env.insert(env.end(), other.env.begin(), other.env.end());
    mounts.insert(mounts.end(), other.mounts.begin(), other.mounts.end());
    ld_library_path.insert(ld_library_path.end(), other.ld_library_path.begin(),
                           other.ld_library_path.end());
    needs_new_paths = needs_new_paths || other.needs_new_paths;
    notes.insert(notes.end(), other.notes.begin(), other.notes.end());
}

} // namespace husk::host
