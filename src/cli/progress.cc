#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace coffre::cli {
namespace {

constexpr std::string_view kEraseToEnd = "\033[K";
constexpr auto kSpinEvery = std::chrono::milliseconds(100);
constexpr std::string_view kFrames = "|/-\\";

// The terminal's width on stderr, 80 when it does not say.
size_t TerminalColumns() {
  winsize w{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 80;
}

}  // namespace

bool StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string Seconds(std::chrono::steady_clock::duration elapsed) {
  auto tenths = (std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

ProgressLine::ProgressLine(std::ostream& out, bool terminal, std::chrono::milliseconds every)
    : out_(out), terminal_(terminal), every_(every), shown_(Clock::now()) {}

ProgressLine::~ProgressLine() {
  if (line_open_) out_ << "\n" << std::flush;
}

void ProgressLine::Rewrite(std::string_view text) {
  // A line longer than the terminal wraps, and "\r" would go back to its last row only.
  size_t width = TerminalColumns() - 1;
  out_ << '\r' << text.substr(0, width) << kEraseToEnd << std::flush;
  line_open_ = true;
}

void ProgressLine::Show(std::string_view text) {
  shown_ = Clock::now();
  if (terminal_) {
    Rewrite(text);
  } else {
    out_ << text << "\n" << std::flush;
  }
}

void ProgressLine::ShowOnTerminal(std::string_view text) {
  if (terminal_) Rewrite(text);
}

void ProgressLine::Print(std::string_view text) {
  if (line_open_) out_ << '\r';
  out_ << text;
  if (line_open_) out_ << kEraseToEnd;
  out_ << "\n" << std::flush;
  line_open_ = false;
}

void ProgressLine::Clear() {
  if (!line_open_) return;
  out_ << '\r' << kEraseToEnd << std::flush;
  line_open_ = false;
}

Spinner::Spinner(std::string label, std::ostream& out, bool terminal)
    : label_(std::move(label)), line_(out, terminal), started_(std::chrono::steady_clock::now()) {
  if (!terminal) return;  // nothing to show until the final line
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    for (size_t frame = 0; !stop_; ++frame) {
      line_.ShowOnTerminal(label_ + " " + kFrames[frame % kFrames.size()] + " " +
                           Seconds(std::chrono::steady_clock::now() - started_));
      wake_.wait_for(lock, kSpinEvery, [this] { return stop_; });
    }
  });
}

Spinner::~Spinner() {
  Stop();
  line_.Clear();
}

void Spinner::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Spinner::Finish(std::string_view outcome) {
  Stop();
  line_.Print(label_ + ": " + std::string(outcome) + " (" +
              Seconds(std::chrono::steady_clock::now() - started_) + ")");
}

}  // namespace coffre::cli
