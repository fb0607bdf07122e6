#include "cli/table.h"

#include <algorithm>

namespace coffre::cli {
namespace {

void AppendLine(const std::vector<std::string>& cells, const std::vector<size_t>& widths,
                std::string& out) {
  std::string line;
  for (size_t i = 0; i < widths.size(); ++i) {
    std::string_view cell = i < cells.size() ? std::string_view(cells[i]) : std::string_view();
    line += cell;
    if (i + 1 < widths.size()) line.append(widths[i] - cell.size() + 2, ' ');
  }
  // Padding of empty trailing cells would otherwise leave blanks at the end.
  line.erase(line.find_last_not_of(' ') + 1);
  out += line;
  out += '\n';
}

}  // namespace

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (const auto& row : rows_) widths.resize(std::max(widths.size(), row.size()), 0);
  auto widen = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) widths[i] = std::max(widths[i], cells[i].size());
  };
  widen(headers_);
  for (const auto& row : rows_) widen(row);

  std::string out;
  if (!headers_.empty()) AppendLine(headers_, widths, out);
  for (const auto& row : rows_) AppendLine(row, widths, out);
  return out;
}

std::string Table::RenderTsv() const {
  std::string out;
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) out += '\t';
      for (char ch : row[i]) out += (ch == '\t' || ch == '\n' || ch == '\r') ? ' ' : ch;
    }
    out += '\n';
  }
  return out;
}

}  // namespace coffre::cli
