#include "net/admission.h"

#include <gtest/gtest.h>

namespace coffre::net {
namespace {

TEST(AdmissionTest, CapsPerSourceAndInTotalAndGivesSlotsBack) {
  Admission a(/*max_total=*/3, /*max_per_source=*/2);
  EXPECT_TRUE(a.Admit("10.0.0.1"));
  EXPECT_TRUE(a.Admit("10.0.0.1"));
  EXPECT_FALSE(a.Admit("10.0.0.1")) << "per source";
  EXPECT_TRUE(a.Admit("10.0.0.2"));
  EXPECT_FALSE(a.Admit("10.0.0.3")) << "in total";
  EXPECT_EQ(a.pending(), 3u);
  a.Release("10.0.0.1");
  EXPECT_TRUE(a.Admit("10.0.0.3"));
  a.Release("10.0.0.9");  // never admitted: nothing happens
  EXPECT_EQ(a.pending(), 3u);
}

}  // namespace
}  // namespace coffre::net
