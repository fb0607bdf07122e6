#include "hub/consumer_groups.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "fakes/fake_key_provider.h"
#include "file_scan.h"
#include "storage/rocks_kv_store.h"
#include "test_util.h"

namespace coffre::hub {
namespace {

using testing::FilesContaining;
using testing::StatusIs;

class ConsumerGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    groups_.reset();
    keys_.reset();
    kv_.reset();
    kv_ = std::move(storage::RocksKvStore::Open(dir_.path() / "meta").value());
    keys_ = std::move(HubKeys::Open(*kv_, provider_).value());
    groups_ = std::move(ConsumerGroups::Open(*kv_, *keys_, 4, clock_).value());
  }

  testing::TempDir dir_;
  testing::FakeKeyProvider provider_;
  std::unique_ptr<storage::RocksKvStore> kv_;
  std::unique_ptr<HubKeys> keys_;
  std::unique_ptr<ConsumerGroups> groups_;
  ManualClock clock_;  // 1,800,000,000 s since the epoch
};

TEST_F(ConsumerGroupsTest, DefaultExistsAndCannotBeDeleted) {
  COFFRE_ASSERT_OK_AND_ASSIGN(auto all, groups_->List());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "$Default");
  EXPECT_THAT(groups_->Delete("$Default"), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(ConsumerGroupsTest, CreateListDeleteWithAzureNameRulesAndLimit) {
  COFFRE_ASSERT_OK(groups_->Create("analytics").status());
  EXPECT_THAT(groups_->Create("analytics").status(), StatusIs(StatusCode::kAlreadyExists));
  for (const char* bad : {"", "-x", "x-", "a b", "a/b", "$Other",
                          "x123456789012345678901234567890123456789012345678901"}) {
    EXPECT_THAT(groups_->Create(bad).status(), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_TRUE(ValidConsumerGroupName("a.b-c_d9"));
  COFFRE_ASSERT_OK_AND_ASSIGN(auto all, groups_->List());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].name, "analytics");
  EXPECT_EQ(all[1].created_ms, clock_.NowMillis());
  for (size_t i = all.size(); i < kMaxConsumerGroups; ++i) {
    COFFRE_ASSERT_OK(groups_->Create("g" + std::to_string(i)).status());
  }
  EXPECT_THAT(groups_->Create("one-too-many").status(), StatusIs(StatusCode::kResourceExhausted));
  COFFRE_ASSERT_OK(groups_->Delete("analytics"));
  EXPECT_THAT(groups_->Get("analytics").status(), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(groups_->Delete("analytics"), StatusIs(StatusCode::kNotFound));
}

TEST_F(ConsumerGroupsTest, CheckpointsSurviveRestartsAndGoWithTheirGroup) {
  COFFRE_ASSERT_OK(groups_->Create("reader").status());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto none, groups_->GetCheckpoint("reader", 2));
  EXPECT_FALSE(none.has_value());
  COFFRE_ASSERT_OK(groups_->SetCheckpoint("reader", 2, 1234));
  COFFRE_ASSERT_OK(groups_->SetCheckpoint("$Default", 2, 7));
  EXPECT_THAT(groups_->SetCheckpoint("reader", 4, 1), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(groups_->SetCheckpoint("nobody", 0, 1), StatusIs(StatusCode::kNotFound));
  Open();
  COFFRE_ASSERT_OK_AND_ASSIGN(auto got, groups_->GetCheckpoint("reader", 2));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->offset, 1234u);
  EXPECT_EQ(got->updated_ms, clock_.NowMillis());
  COFFRE_ASSERT_OK(groups_->Delete("reader"));
  COFFRE_ASSERT_OK(groups_->Create("reader").status());
  COFFRE_ASSERT_OK_AND_ASSIGN(auto fresh, groups_->GetCheckpoint("reader", 2));
  EXPECT_FALSE(fresh.has_value()) << "a re-created group starts without checkpoints";
  EXPECT_EQ(groups_->GetCheckpoint("$Default", 2).value()->offset, 7u);
}

TEST_F(ConsumerGroupsTest, GroupNamesAreNotStoredInTheClear) {
  COFFRE_ASSERT_OK(groups_->Create("secret-project-name").status());
  COFFRE_ASSERT_OK(groups_->SetCheckpoint("secret-project-name", 1, 99));
  kv_.reset();  // flush and close
  EXPECT_THAT(FilesContaining(dir_.path(), AsBytes("secret-project-name")), ::testing::IsEmpty());
}

}  // namespace
}  // namespace coffre::hub
