#include "sim/kubernetes/quantity.h"

#include <cctype>

namespace berth::sim::kubernetes {
namespace {

using Wide = __int128;
constexpr Wide kMaxMilli = static_cast<Wide>(INT64_MAX);

}  // namespace

std::optional<Quantity> parse_quantity(const std::string& text) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  Wide integer = 0;
  Wide fraction = 0;
  int fraction_digits = 0;
  bool any_digit = false;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    integer = integer * 10 + (text[i++] - '0');
    any_digit = true;
    if (integer > kMaxMilli) return std::nullopt;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (fraction_digits < 18) {
        fraction = fraction * 10 + (text[i] - '0');
        ++fraction_digits;
      }
      ++i;
      any_digit = true;
    }
  }
  if (!any_digit) return std::nullopt;
  const std::string suffix = text.substr(i);
  // value = (integer + fraction / 10^fraction_digits) * multiplier, expressed in milli.
  Wide numerator = 1;      // multiplier x 1000 as numerator / denominator
  Wide denominator = 1;
  bool binary = false;
  auto pow10 = [](int n) {
    Wide v = 1;
    for (int k = 0; k < n; ++k) v *= 10;
    return v;
  };
  if (suffix.empty()) {
    numerator = 1000;
  } else if (suffix == "m") {
    numerator = 1;
  } else if (suffix == "k") {
    numerator = pow10(6);
  } else if (suffix == "M") {
    numerator = pow10(9);
  } else if (suffix == "G") {
    numerator = pow10(12);
  } else if (suffix == "T") {
    numerator = pow10(15);
  } else if (suffix == "P") {
    numerator = pow10(18);
  } else if (suffix == "E") {
    numerator = pow10(21);
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    const std::string units = "KMGTPE";
    const auto pos = units.find(suffix[0]);
    if (pos == std::string::npos) return std::nullopt;
    numerator = static_cast<Wide>(1000) << (10 * (pos + 1));
    binary = true;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::size_t used = 0;
    int exponent = 0;
    try {
      exponent = std::stoi(suffix.substr(1), &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (used != suffix.size() - 1 || exponent > 18 || exponent < -18) return std::nullopt;
    if (exponent + 3 >= 0) {
      numerator = pow10(exponent + 3);
    } else {
      denominator = pow10(-(exponent + 3));
    }
  } else {
    return std::nullopt;
  }
  const Wide scale = pow10(fraction_digits);
  Wide milli = (integer * scale + fraction) * numerator;
  const Wide divisor = scale * denominator;
  // Round up sub-milli precision, as the API server does.
  milli = (milli + divisor - 1) / divisor;
  if (milli > kMaxMilli) return std::nullopt;
  Quantity q;
  q.milli = static_cast<std::int64_t>(negative ? -milli : milli);
  q.binary = binary;
  return q;
}

std::string format_milli(std::int64_t milli, bool binary) {
  if (milli == 0) return "0";
  const bool negative = milli < 0;
  std::int64_t value = negative ? -milli : milli;
  const std::string sign = negative ? "-" : "";
  if (value % 1000 != 0) return sign + std::to_string(value) + "m";
  std::int64_t units = value / 1000;
  if (binary) {
    static const char* kSuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    int index = 0;
    while (index < 6 && units % 1024 == 0 && units >= 1024) {
      units /= 1024;
      ++index;
    }
    if (index > 0 || units % 1000 != 0) return sign + std::to_string(units) + kSuffixes[index];
  }
  static const char* kDecimal[] = {"", "k", "M", "G", "T", "P", "E"};
  int index = 0;
  while (index < 6 && units % 1000 == 0 && units >= 1000) {
    units /= 1000;
    ++index;
  }
  return sign + std::to_string(units) + kDecimal[index];
}

std::string canonical(const Quantity& quantity) { return format_milli(quantity.milli, quantity.binary); }

}  // namespace berth::sim::kubernetes
