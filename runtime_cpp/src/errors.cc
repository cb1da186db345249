#include "errors.h"

#include <string>

namespace ember {

std::string FirstLine(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    size_t first = text.find_first_not_of(" \t\r", start);
    if (first != std::string::npos && first < end) {
      size_t last = text.find_last_not_of(" \t\r", end - 1);
      return text.substr(first, last - first + 1);
    }
    start = end + 1;
  }
  return "(no message)";
}

}  // namespace ember
