#pragma once
// Table: plain-text columns for the `coffre` tool's output. Each column is as wide as its
// widest cell, columns are separated by two spaces, and lines carry no trailing blanks.
// A table without headers prints rows only (used for "FIELD  value" views). RenderTsv gives the
// same cells tab-separated, without headers, for scripts (cut, awk). Value type.

#include <string>
#include <vector>

namespace coffre::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers = {}) : headers_(std::move(headers)) {}

  // A row may be shorter than the widest one; missing cells print as empty.
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

  std::string Render() const;
  // One line per row, cells joined by tabs; tabs and newlines inside a cell become spaces.
  std::string RenderTsv() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace coffre::cli
