#include "util/error.hpp"

#include <cerrno>
#include <cstring>

namespace husk {

Error::Error(std::string message, int err) : message_(std::move(message)), err_(err) {
    line_ = message_;
    if (err_ != 0) {
        line_ += " (";
        line_ += std::strerror(err_);
        line_ += ")";
    }
}

Error& Error::add_context(std::string context) {
    trail_.push_back(std::move(context));
    return *this;
}

void throw_errno(std::string message) {
    int err = errno;
    throw Error(std::move(message), err);
}

} // namespace husk
