// ClosingMarks (io/src/closing_marks.hpp): the marks that close StreamSession, ObjectStream
// and Bundle to their writers. The interleavings a second thread could make inside close(),
// fin() or stop() are made here by the post itself, so each is tested deterministically.
#include <gtest/gtest.h>

#include "closing_marks.hpp"

namespace weft::io {
namespace {

constexpr unsigned kEnd = 1;
constexpr unsigned kOther = 2;

TEST(IoClosingMarks, AnEndHandedOverClosesAndASecondEndIsRefusedWithoutPosting) {
  ClosingMarks marks;
  EXPECT_FALSE(marks.any());
  EXPECT_EQ(marks.end_once(kEnd, [] { return Errc::ok; }), Errc::ok);
  EXPECT_TRUE(marks.any());
  bool posted_again = false;
  EXPECT_EQ(marks.end_once(kEnd,
                           [&] {
                             posted_again = true;
                             return Errc::ok;
                           }),
            Errc::stream_closed);
  EXPECT_FALSE(posted_again);
}

TEST(IoClosingMarks, AnEndNotHandedOverReopensAndMayBeRetried) {
  ClosingMarks marks;
  EXPECT_EQ(marks.end_once(kEnd,
                           [&] {
                             EXPECT_TRUE(marks.any());  // closed while the post runs
                             return Errc::queue_full;
                           }),
            Errc::queue_full);
  EXPECT_FALSE(marks.any());
  EXPECT_EQ(marks.end_once(kEnd, [] { return Errc::ok; }), Errc::ok);
}

TEST(IoClosingMarks, AnEndNotHandedOverKeepsAMarkSetMeanwhileByAnotherCall) {
  // The defect 94f7d1b fixed: a close() refused by a full queue cleared a cancel's mark set
  // while the close() ran, and writes after the cancel were taken again.
  ClosingMarks marks;
  EXPECT_EQ(marks.end_once(kEnd,
                           [&] {
                             marks.set(kOther);
                             return Errc::queue_full;
                           }),
            Errc::queue_full);
  EXPECT_TRUE(marks.any());
  EXPECT_EQ(marks.end_once(kEnd, [] { return Errc::ok; }), Errc::stream_closed);
}

TEST(IoClosingMarks, AnEndIsRefusedAfterAStopAndAStopAfterAnEndStillPosts) {
  ClosingMarks marks;
  EXPECT_EQ(marks.close_now(kOther, [] { return Errc::ok; }), Errc::ok);
  EXPECT_EQ(marks.end_once(kEnd, [] { return Errc::ok; }), Errc::stream_closed);

  ClosingMarks ended;
  EXPECT_EQ(ended.end_once(kEnd, [] { return Errc::ok; }), Errc::ok);
  bool stop_posted = false;
  EXPECT_EQ(ended.close_now(kOther,
                            [&] {
                              stop_posted = true;
                              return Errc::ok;
                            }),
            Errc::ok);
  EXPECT_TRUE(stop_posted);
}

TEST(IoClosingMarks, AStopNotHandedOverReopensOnlyWhenItSetTheMark) {
  ClosingMarks marks;
  EXPECT_EQ(marks.close_now(kOther, [] { return Errc::queue_full; }), Errc::queue_full);
  EXPECT_FALSE(marks.any());

  // A stop handed over earlier keeps the handle closed when a later stop is refused.
  EXPECT_EQ(marks.close_now(kOther, [] { return Errc::ok; }), Errc::ok);
  EXPECT_EQ(marks.close_now(kOther, [] { return Errc::queue_full; }), Errc::queue_full);
  EXPECT_TRUE(marks.any());
}

TEST(IoClosingMarks, AStopNotHandedOverKeepsAnEndsMark) {
  // A stop after a fin was handed over, refused by a full queue: it takes back its own mark
  // only, and the handle stays closed by the fin.
  ClosingMarks marks;
  EXPECT_EQ(marks.end_once(kEnd, [] { return Errc::ok; }), Errc::ok);
  EXPECT_EQ(marks.close_now(kOther, [] { return Errc::queue_full; }), Errc::queue_full);
  EXPECT_TRUE(marks.any());
  EXPECT_EQ(marks.end_once(kEnd, [] { return Errc::ok; }), Errc::stream_closed);
}

}  // namespace
}  // namespace weft::io
