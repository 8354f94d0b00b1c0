// Small text helpers shared by the human-readable reports (stats, scan,
// inspect, progress).
#pragma once

#include <cstdint>
#include <string>

namespace lcde {

// 1234567 -> "1,234,567".
std::string WithThousands(uint64_t value);

}  // namespace lcde
