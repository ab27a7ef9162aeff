// What the dynamic linker reads of a shared library: its soname and the
// libraries it needs (elf(5) DT_SONAME, DT_NEEDED), with libelf.
#pragma once

#include <string>
#include <vector>

namespace husk::host {

/// The dynamic section of an ELF shared object.
struct ElfDynamic {
    std::string soname;              ///< DT_SONAME; empty when it has none
    std::vector<std::string> needed; ///< DT_NEEDED, in order
};

/// Reads the ELF file at `path` (a 64-bit x86-64 shared object or
/// executable) with libelf (Debian's libelf-dev).
/// @throws husk::Error "<path>: <reason>": not ELF, another machine, no
///         dynamic section, a malformed one.
ElfDynamic read_elf_dynamic(const std::string& path);

/// What is wrong with the ELF header of the file at `path` for this host's
/// dynamic linker, or "": it must be a 64-bit, little-endian shared object
/// (ET_DYN) of this machine (EM_X86_64 or EM_AARCH64, as built). One read
/// of the header (elf(5)), no more: --gpu checks every driver library this
/// way on every start.
std::string elf_header_problem(const std::string& path);

/// The same, of the file open for reading on `fd` (not closed).
std::string elf_header_problem(int fd);

} // namespace husk::host
