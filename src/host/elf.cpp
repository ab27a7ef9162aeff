#include "host/elf.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <memory>
#include <unistd.h>

namespace husk::host {

namespace {

struct ElfEnd {
    void operator()(Elf* e) const { elf_end(e); }
};

} // namespace

std::string elf_header_problem(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        return "cannot open it";
    }
    return elf_header_problem(fd.get());
}

std::string elf_header_problem(int fd) {
    Elf64_Ehdr h{};
    if (::pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h) ||
        std::memcmp(h.e_ident, ELFMAG, SELFMAG) != 0) {
        return "not an ELF file";
    }
#if defined(__x86_64__)
    constexpr uint16_t kMachine = EM_X86_64;
#elif defined(__aarch64__)
    constexpr uint16_t kMachine = EM_AARCH64;
#else
    constexpr uint16_t kMachine = EM_NONE;
#endif
    if (h.e_ident[EI_CLASS] != ELFCLASS64 || h.e_ident[EI_DATA] != ELFDATA2LSB ||
        h.e_machine != kMachine) {
        return "an ELF file of another machine or class";
    }
    if (h.e_type != ET_DYN) {
        return "not a shared object";
    }
    return "";
}

ElfDynamic read_elf_dynamic(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw_errno(path + ": cannot open");
    }
    if (elf_version(EV_CURRENT) == EV_NONE) {
        throw Error("libelf is too old");
    }
    std::unique_ptr<Elf, ElfEnd> elf(elf_begin(fd.get(), ELF_C_READ, nullptr));
    if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
        throw Error(path + ": not an ELF file");
    }
    GElf_Ehdr ehdr;
    if (gelf_getehdr(elf.get(), &ehdr) == nullptr || gelf_getclass(elf.get()) != ELFCLASS64 ||
        ehdr.e_machine != EM_X86_64) {
        throw Error(path + ": not a 64-bit x86-64 ELF file");
    }
    ElfDynamic out;
    bool found = false;
    for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr;
         scn = elf_nextscn(elf.get(), scn)) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNAMIC) {
            continue;
        }
        found = true;
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (data == nullptr || shdr.sh_entsize == 0) {
            throw Error(path + ": a malformed dynamic section");
        }
        const size_t count = shdr.sh_size / shdr.sh_entsize;
        for (size_t i = 0; i < count; ++i) {
            GElf_Dyn dyn;
            if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr) {
                throw Error(path + ": a malformed dynamic section");
            }
            if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_SONAME) {
                continue;
            }
            const char* s = elf_strptr(elf.get(), shdr.sh_link, dyn.d_un.d_val);
            if (s == nullptr) {
                throw Error(path + ": a dynamic entry names no string");
            }
            if (dyn.d_tag == DT_NEEDED) {
                out.needed.emplace_back(s);
            } else {
                out.soname = s;
            }
        }
    }
    if (!found) {
        throw Error(path + ": no dynamic section (a static file?)");
    }
    return out;
}

} // namespace husk::host
