// CPU seconds for mqtt_load's reports: its own (getrusage), and a broker's on this machine
// (/proc/PID/stat utime + stime, in clock ticks: 10 ms steps here).
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace coffre::load {

inline double ToolCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// -1 when pid is 0 or its stat cannot be read.
inline double ProcessCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');  // the name before it may hold spaces
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // fields 14 and 15: utime, stime
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A phase's CPU: the tool's and the broker's between Begin() and End().
struct CpuWindow {
  int pid = 0;
  double tool0 = 0, broker0 = -1, tool = 0, broker = -1;
  void Begin() {
    tool0 = ToolCpuSeconds();
    broker0 = ProcessCpuSeconds(pid);
  }
  void End() {
    tool = ToolCpuSeconds() - tool0;
    double b = ProcessCpuSeconds(pid);
    broker = b >= 0 && broker0 >= 0 ? b - broker0 : -1;
  }
};

}  // namespace coffre::load
