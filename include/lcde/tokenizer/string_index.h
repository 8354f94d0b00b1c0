// Id by string over strings stored elsewhere (a vocabulary): one flat
// open-addressing table of ids, so that loading a 150K-token vocabulary and
// its merges costs lookups in one array rather than in a node per string.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "lcde/tokenizer/segment_cache.h"

namespace lcde::tok {

class StringIndex {
 public:
  // Indexes strings[id] -> id. Later duplicates win, as a map's insert
  // would not: REQUIRES unique strings (a vocabulary's are). The strings
  // must outlive the index.
  explicit StringIndex(const std::vector<std::string_view>* strings) : strings_(strings) {
    size_t cap = 16;
    while (cap < strings->size() * 2) cap <<= 1;
    slots_.assign(cap, -1);
    mask_ = cap - 1;
    for (size_t id = 0; id < strings->size(); ++id) {
      if ((*strings)[id].data() == nullptr) continue;  // no token with this id
      size_t i = HashBytes((*strings)[id].data(), (*strings)[id].size()) & mask_;
      while (slots_[i] >= 0) i = (i + 1) & mask_;
      slots_[i] = static_cast<int32_t>(id);
    }
  }
  // The id of s, or -1.
  int32_t Find(std::string_view s) const {
    size_t i = HashBytes(s.data(), s.size()) & mask_;
    for (;;) {
      const int32_t id = slots_[i];
      if (id < 0) return -1;
      if ((*strings_)[static_cast<size_t>(id)] == s) return id;
      i = (i + 1) & mask_;
    }
  }

 private:
  const std::vector<std::string_view>* strings_;
  std::vector<int32_t> slots_;
  size_t mask_ = 0;
};

}  // namespace lcde::tok
