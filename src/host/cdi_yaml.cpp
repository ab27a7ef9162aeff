// The YAML side of CDI specs, with libyaml (Debian's libyaml-dev, linked
// statically): its event parser builds the JSON tree that the validator
// in cdi.cpp reads, its emitter writes what husk cdi generate prints.
#include "host/cdi_detail.hpp"

#include <yaml.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace husk::host::cdi::detail {
namespace {

// ---------------------------------------------------------------------------
// Reading

/// Builds one JSON value from libyaml's parse events (yaml.h, the YAML 1.1
/// reference parser), without recursion: scalars stay text (plain or
/// quoted), untagged plain nulls become null; aliases are copies, paid for
/// against kMaxYamlCost; depth, duplicate keys, keys that are not text and
/// a second document refused.
class YamlToJson {
  public:
    explicit YamlToJson(const std::string& file) : file_(file) {}

    /// Takes one event (not deleted here).
    /// @throws husk::Error, one line naming the file, line and column.
    void take(const yaml_event_t& e) {
        const yaml_mark_t& mark = e.start_mark;
        switch (e.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (done_) {
                fail(mark, "more than one document");
            }
            break;
        case YAML_ALIAS_EVENT:
            alias(mark, text_of(e.data.alias.anchor));
            break;
        case YAML_SCALAR_EVENT: {
            const auto& sc = e.data.scalar;
            const std::string value(reinterpret_cast<const char*>(sc.value), sc.length);
            const std::string anchor = text_of(sc.anchor);
            if (is_null(sc.tag, sc.style, value)) {
                pay(mark, 64);
                add(mark, json(nullptr), anchor, 64, 0);
                break;
            }
            if (const std::string problem = text_problem(value); !problem.empty()) {
                fail(mark, problem + " in a scalar");
            }
            pay(mark, 64 + value.size());
            add(mark, json(value), anchor, 64 + value.size(), 0);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
            open(mark, json::array(), text_of(e.data.sequence_start.anchor));
            break;
        case YAML_MAPPING_START_EVENT:
            open(mark, json::object(), text_of(e.data.mapping_start.anchor));
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            close();
            break;
        default:
            break;
        }
    }

    bool done() const { return done_; }
    json result() { return std::move(result_); }

  private:
    struct Frame {
        json value;
        std::string anchor;
        size_t cost;
        int height; // of the deepest child, plus one
        yaml_mark_t mark;
        std::optional<std::string> key; // maps: the key read, waiting for its value
    };
    struct Anchored {
        json value;
        size_t cost;
        int height;
    };

    static std::string text_of(const yaml_char_t* s) {
        return s == nullptr ? std::string() : reinterpret_cast<const char*>(s);
    }

    /// A null as the reference CDI parser (Go's yaml.v3) takes it: an
    /// untagged plain "", "~", "null", "Null" or "NULL", or the tag !!null.
    static bool is_null(const yaml_char_t* tag_text, yaml_scalar_style_t style,
                        const std::string& value) {
        const char* tag = reinterpret_cast<const char*>(tag_text);
        if (tag != nullptr && std::strcmp(tag, YAML_NULL_TAG) == 0) {
            return true;
        }
        if (style != YAML_PLAIN_SCALAR_STYLE ||
            (tag != nullptr && std::strcmp(tag, "!") != 0 && std::strcmp(tag, "?") != 0)) {
            return false;
        }
        return value.empty() || value == "~" || value == "null" || value == "Null" ||
               value == "NULL";
    }

    [[noreturn]] void fail(const yaml_mark_t& mark, const std::string& reason) const {
        throw line_error(file_ + ": line " + std::to_string(mark.line + 1) + ", column " +
                         std::to_string(mark.column + 1) + ": " + reason);
    }

    void pay(const yaml_mark_t& mark, size_t cost) {
        cost_ += cost;
        if (cost_ > kMaxYamlCost) {
            fail(mark, "the document expands to more than " + std::to_string(kMaxYamlCost >> 20) +
                           " MiB (aliases?)");
        }
    }

    void alias(const yaml_mark_t& mark, const std::string& anchor) {
        const auto it = anchors_.find(anchor);
        if (it == anchors_.end()) {
            fail(mark, "an alias of a node that is not complete");
        }
        const Anchored& a = it->second;
        if (stack_.size() + static_cast<size_t>(a.height) > kMaxDepth) {
            fail(mark, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        }
        pay(mark, a.cost); // before the copy
        add(mark, a.value, "", a.cost, a.height);
    }

    void open(const yaml_mark_t& mark, json value, std::string anchor) {
        if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().key) {
            fail(mark, "a mapping key that is not text");
        }
        if (stack_.size() >= kMaxDepth) {
            fail(mark, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        }
        pay(mark, 64);
        stack_.push_back({std::move(value), std::move(anchor), 64, 1, mark, std::nullopt});
    }

    void close() {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        if (f.value.is_object() && f.key) {
            fail(f.mark, "a mapping key without a value"); // not produced by libyaml
        }
        place(f.mark, std::move(f.value), f.anchor, f.cost, f.height);
    }

    /// A complete node: its value, anchor, cost (paid) and height.
    void add(const yaml_mark_t& mark, json value, const std::string& anchor, size_t cost,
             int height) {
        if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().key) {
            if (!value.is_string()) {
                fail(mark, "a mapping key that is not text");
            }
            Frame& m = stack_.back();
            std::string key = value.get<std::string>();
            if (m.value.contains(key)) {
                fail(mark, "key " + quote(key) + " given twice");
            }
            m.key = std::move(key);
            m.cost += cost;
            return;
        }
        place(mark, std::move(value), anchor, cost, height);
    }

    void place(const yaml_mark_t& mark, json value, const std::string& anchor, size_t cost,
               int height) {
        if (!anchor.empty()) {
            anchors_[anchor] = {value, cost, height};
        }
        if (stack_.empty()) {
            if (done_) {
                fail(mark, "more than one document");
            }
            result_ = std::move(value);
            done_ = true;
            return;
        }
        Frame& p = stack_.back();
        p.cost += cost;
        p.height = std::max(p.height, height + 1);
        if (p.value.is_array()) {
            p.value.push_back(std::move(value));
        } else {
            p.value[*p.key] = std::move(value);
            p.key.reset();
        }
    }

    const std::string& file_;
    std::vector<Frame> stack_;
    std::map<std::string, Anchored, std::less<>> anchors_;
    size_t cost_ = 0;
    json result_;
    bool done_ = false;
};

/// libyaml's parser, freed on every path.
struct YamlParser {
    yaml_parser_t p{};
    YamlParser() {
        if (yaml_parser_initialize(&p) == 0) {
            throw std::bad_alloc();
        }
    }
    ~YamlParser() { yaml_parser_delete(&p); }
    YamlParser(const YamlParser&) = delete;
    YamlParser& operator=(const YamlParser&) = delete;
};

} // namespace

json parse_yaml(std::string_view text, const std::string& file) {
    YamlParser parser;
    yaml_parser_set_encoding(&parser.p, YAML_UTF8_ENCODING); // never UTF-16 by a BOM
    yaml_parser_set_input_string(&parser.p, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    YamlToJson builder(file);
    for (;;) {
        yaml_event_t event;
        if (yaml_parser_parse(&parser.p, &event) == 0) {
            const yaml_parser_t& p = parser.p;
            const std::string problem = shown(p.problem != nullptr ? p.problem : "not valid YAML");
            if (p.error == YAML_READER_ERROR) { // no mark: the byte offset
                throw line_error(file + ": byte " + std::to_string(p.problem_offset) + ": " +
                                 problem);
            }
            const yaml_mark_t& m = p.problem_mark;
            throw line_error(file + ": line " + std::to_string(m.line + 1) + ", column " +
                             std::to_string(m.column + 1) + ": " + problem +
                             (p.context != nullptr ? " (" + shown(p.context) + ")" : ""));
        }
        const yaml_event_type_t type = event.type;
        try {
            builder.take(event);
        } catch (...) {
            yaml_event_delete(&event);
            throw;
        }
        yaml_event_delete(&event);
        if (type == YAML_STREAM_END_EVENT) {
            break;
        }
    }
    if (!builder.done()) {
        throw line_error(file + ": empty: no YAML document");
    }
    return builder.result();
}

// ---------------------------------------------------------------------------
// Writing

namespace {

/// Whether `s` reads back as the same text when written plain in YAML,
/// by YAML 1.1 and 1.2 readers alike (no null, boolean or number look).
bool plain_is_safe(const std::string& s) {
    // A letter, '/' or '_' first, or "-" before a letter or '-' ("--link");
    // a digit, '.', '+' or "-" before one may be a number.
    const bool flag = s.size() > 1 && s[0] == '-' && (is_letter(s[1]) || s[1] == '-');
    if (s.empty() || !(is_letter(s[0]) || s[0] == '/' || s[0] == '_' || flag)) {
        return false;
    }
    for (const char c : s) {
        if (!is_alnum(c) && std::strchr("/_.=+@:,-", c) == nullptr) {
            return false;
        }
    }
    if (s.back() == ':') {
        return false;
    }
    std::string lower;
    for (const char c : s) {
        lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    static const std::set<std::string, std::less<>> kWords = {"y",   "n",    "yes",   "no",  "on",
                                                              "off", "true", "false", "null"};
    return kWords.count(lower) == 0;
}

/// libyaml's emitter writing into a string, freed on every path.
class YamlWriter {
  public:
    YamlWriter() {
        if (yaml_emitter_initialize(&e_) == 0) {
            throw std::bad_alloc();
        }
        yaml_emitter_set_output(&e_, &YamlWriter::append, &out_);
        yaml_emitter_set_indent(&e_, 2);
        yaml_emitter_set_width(&e_, -1); // no folding of long scalars
        yaml_emitter_set_unicode(&e_, 1);
    }
    ~YamlWriter() { yaml_emitter_delete(&e_); }
    YamlWriter(const YamlWriter&) = delete;
    YamlWriter& operator=(const YamlWriter&) = delete;

    /// Writes `v` as one document that starts with "---".
    std::string document(const ojson& v) {
        yaml_event_t ev;
        yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
        emit(ev);
        yaml_document_start_event_initialize(&ev, nullptr, nullptr, nullptr, 0);
        emit(ev);
        value(v);
        yaml_document_end_event_initialize(&ev, 1);
        emit(ev);
        yaml_stream_end_event_initialize(&ev);
        emit(ev);
        return std::move(out_);
    }

  private:
    static int append(void* data, unsigned char* buffer, size_t size) {
        static_cast<std::string*>(data)->append(reinterpret_cast<const char*>(buffer), size);
        return 1;
    }

    void emit(yaml_event_t& ev) {
        if (yaml_emitter_emit(&e_, &ev) == 0) {
            throw Error(std::string("cannot write YAML: ") +
                        (e_.problem != nullptr ? e_.problem : "libyaml failed"));
        }
    }

    /// A scalar, plain where that reads back as the same text, else quoted.
    void scalar(const std::string& s, bool text) {
        yaml_event_t ev;
        const bool plain = !text || plain_is_safe(s);
        yaml_scalar_event_initialize(
            &ev, nullptr, nullptr, reinterpret_cast<yaml_char_t*>(const_cast<char*>(s.data())),
            static_cast<int>(s.size()), 1, 1,
            plain ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
        emit(ev);
    }

    void value(const ojson& v) {
        yaml_event_t ev;
        switch (v.type()) {
        case ojson::value_t::object:
            yaml_mapping_start_event_initialize(&ev, nullptr, nullptr, 1, YAML_BLOCK_MAPPING_STYLE);
            emit(ev);
            for (auto it = v.begin(); it != v.end(); ++it) {
                scalar(it.key(), true);
                value(it.value());
            }
            yaml_mapping_end_event_initialize(&ev);
            emit(ev);
            break;
        case ojson::value_t::array:
            yaml_sequence_start_event_initialize(&ev, nullptr, nullptr, 1,
                                                 YAML_BLOCK_SEQUENCE_STYLE);
            emit(ev);
            for (const auto& e : v) {
                value(e);
            }
            yaml_sequence_end_event_initialize(&ev);
            emit(ev);
            break;
        case ojson::value_t::string:
            scalar(v.get_ref<const std::string&>(), true);
            break;
        case ojson::value_t::number_unsigned:
            scalar(std::to_string(v.get<uint64_t>()), false);
            break;
        case ojson::value_t::number_integer:
            scalar(std::to_string(v.get<int64_t>()), false);
            break;
        case ojson::value_t::boolean:
            scalar(v.get<bool>() ? "true" : "false", false);
            break;
        default:
            scalar("null", false);
            break;
        }
    }

    yaml_emitter_t e_{};
    std::string out_;
};

} // namespace

std::string write_yaml(const ojson& v) {
    return YamlWriter().document(v);
}

} // namespace husk::host::cdi::detail
