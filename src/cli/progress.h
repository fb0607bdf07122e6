#pragma once
// How long `coffre` commands (backup, restore, verify, device simulate) show their progress on
// stderr. On a terminal, progress is one line rewritten in place ("\r", the text cut to the
// terminal's width, erase to the end of the line) and the final line takes its place; elsewhere
// (a pipe, a log, a test) each update is a plain line and the final line one more, so nothing
// but newlines reaches a file. Spinner turns while one blocking call runs (a request the server
// reports no progress for): on a terminal only, then a final line everywhere.
// ProgressLine is thread-compatible; Spinner's thread is its own.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

namespace coffre::cli {

// Whether stderr is a terminal (isatty(2)).
bool StderrIsTerminal();

class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;

  // `terminal`: whether `out` is one (StderrIsTerminal() for std::cerr); `every`: see Due().
  ProgressLine(std::ostream& out, bool terminal,
               std::chrono::milliseconds every = std::chrono::seconds(1));
  // A line still being updated on a terminal stays, ended by a newline (an error follows it).
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool terminal() const { return terminal_; }

  // Shows `text` now: the terminal's line replaced, else a plain line.
  void Show(std::string_view text);
  // Whether `every` has passed since the last line shown (the first one waits `every` too: a
  // command done within it shows nothing but its final line).
  bool Due() const { return Clock::now() - shown_ >= every_; }
  // Shows `text` on the terminal only (a spinner's frames); nothing elsewhere.
  void ShowOnTerminal(std::string_view text);
  // A line that stays (the final one, a warning), everywhere: on a terminal it replaces the
  // updating line, and the next Show() starts a new one below.
  void Print(std::string_view text);
  // Erases a line still being updated on a terminal; nothing elsewhere.
  void Clear();

 private:
  void Rewrite(std::string_view text);

  std::ostream& out_;
  bool terminal_ = false;
  std::chrono::milliseconds every_{1000};
  Clock::time_point shown_{};
  bool line_open_ = false;  // a terminal line without its newline yet
};

// Elapsed seconds as "3.2 s" (to the nearest tenth).
std::string Seconds(std::chrono::steady_clock::duration elapsed);

// "LABEL | 3.2 s" turning every 100 ms on a terminal while it lives; Finish(outcome) ends it with
// "LABEL: OUTCOME (3.2 s)", printed everywhere. Destroyed without Finish(), it clears its line.
class Spinner {
 public:
  Spinner(std::string label, std::ostream& out, bool terminal);
  ~Spinner();
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;

  void Finish(std::string_view outcome);

 private:
  void Stop();

  std::string label_;
  ProgressLine line_;
  std::chrono::steady_clock::time_point started_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace coffre::cli
