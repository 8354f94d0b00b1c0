#include "lcde/repeat_queue.h"

#include <algorithm>

namespace lcde {

void RepeatQueue::Schedule(uint32_t source, uint64_t document, std::span<const int32_t> tokens, uint32_t count,
                           uint64_t last_tokens, uint64_t ends_at) {
  Item item;
  item.source = source;
  item.document = document;
  item.tokens.assign(tokens.begin(), tokens.end());
  item.copies_left = count;
  item.last_tokens = last_tokens;
  item.due = ends_at + spacing_;
  item.order = next_order_++;
  items_.push_back(std::move(item));
}

uint64_t RepeatQueue::pending_copies() const {
  uint64_t n = 0;
  for (const Item& it : items_) n += it.copies_left;
  return n;
}

uint64_t RepeatQueue::pending_tokens() const {
  uint64_t n = 0;
  for (const Item& it : items_) n += it.tokens.size();
  return n;
}

Status RepeatQueue::Emit(Packer* packer, bool all) {
  while (!items_.empty()) {
    const uint64_t position = packer->stream_tokens();
    // A copy cut by a checkpoint goes on first; then the earliest due.
    size_t pick = items_.size();
    for (size_t i = 0; i < items_.size(); ++i) {
      const Item& it = items_[i];
      if (it.emitted > 0) {
        pick = i;
        break;
      }
      if (pick == items_.size() || it.due < items_[pick].due ||
          (it.due == items_[pick].due && it.order < items_[pick].order)) {
        pick = i;
      }
    }
    Item& it = items_[pick];
    if (it.emitted == 0 && it.due > position) {
      if (!all) return Status::Ok();
      early_++;
    }
    uint64_t length = it.copies_left == 1 ? it.last_tokens : it.tokens.size();
    uint64_t from = it.emitted;
    it.emitted = 0;
    in_flight_ = static_cast<int64_t>(pick);
    Status s = packer->Add(it.source, it.document, it.tokens.size(),
                           std::span<const int32_t>(it.tokens).first(length), from);
    in_flight_ = -1;
    LCDE_RETURN_IF_ERROR(s);
    if (--it.copies_left == 0) {
      items_.erase(items_.begin() + static_cast<ptrdiff_t>(pick));
    } else {
      it.due = packer->stream_tokens() + spacing_;
    }
  }
  return Status::Ok();
}

nlohmann::json RepeatQueue::Save(uint64_t in_flight_emitted, std::vector<int32_t>* tokens) const {
  nlohmann::json items = nlohmann::json::array();
  for (size_t i = 0; i < items_.size(); ++i) {
    const Item& it = items_[i];
    uint64_t emitted = static_cast<int64_t>(i) == in_flight_ ? in_flight_emitted : it.emitted;
    items.push_back({{"source", it.source}, {"document", it.document}, {"tokens", it.tokens.size()},
                     {"copies_left", it.copies_left}, {"last_tokens", it.last_tokens}, {"due", it.due},
                     {"order", it.order}, {"emitted", emitted}});
    tokens->insert(tokens->end(), it.tokens.begin(), it.tokens.end());
  }
  return {{"items", items}, {"next_order", next_order_}, {"early", early_}};
}

Status RepeatQueue::Restore(const nlohmann::json& saved, std::span<const int32_t> tokens) {
  items_.clear();
  try {
    next_order_ = saved.at("next_order");
    early_ = saved.at("early");
    size_t offset = 0;
    for (const auto& j : saved.at("items")) {
      Item it;
      it.source = j.at("source");
      it.document = j.at("document");
      uint64_t n = j.at("tokens");
      it.copies_left = j.at("copies_left");
      it.last_tokens = j.at("last_tokens");
      it.due = j.at("due");
      it.order = j.at("order");
      it.emitted = j.at("emitted");
      uint64_t length = it.copies_left == 1 ? it.last_tokens : n;
      if (n > tokens.size() - offset || it.copies_left == 0 || it.last_tokens == 0 || it.last_tokens > n ||
          it.emitted > length) {
        return Status::Corruption("repeat queue: item " + std::to_string(items_.size()) + " does not fit");
      }
      it.tokens.assign(tokens.begin() + static_cast<ptrdiff_t>(offset),
                       tokens.begin() + static_cast<ptrdiff_t>(offset + n));
      offset += n;
      items_.push_back(std::move(it));
    }
    if (offset != tokens.size()) return Status::Corruption("repeat queue: token count does not match");
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("repeat queue: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace lcde
