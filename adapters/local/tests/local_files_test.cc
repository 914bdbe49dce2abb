#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "adapters/local/local_files.h"
#include "adapters/local/tests/local_processes.h"

using namespace berth;
using namespace berth::local;
using berth::local_testing::TempDir;

TEST_CASE("proc stat: state and start time, even with spaces and parentheses in the name") {
  const std::string stat =
      "4242 (java (exec) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 123 45 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto parsed = parse_proc_stat(stat);
  REQUIRE(parsed);
  CHECK(parsed->state == 'S');
  CHECK(parsed->start_time == 987654);
  CHECK_FALSE(parse_proc_stat("4242 (x) S 1 2"));
  CHECK_FALSE(parse_proc_stat("garbage"));
}

TEST_CASE("proc stat of this process matches itself") {
  auto self = read_proc_stat(::getpid());
  REQUIRE(self);
  CHECK(self->start_time > 0);
  CHECK(process_alive(PidRecord{::getpid(), self->start_time}));
  CHECK_FALSE(process_alive(PidRecord{::getpid(), self->start_time + 1}));
}

TEST_CASE("pid, exit and executor records round-trip") {
  PidRecord pid{1234, 5678};
  CHECK(decode_pid_record(encode_pid_record(pid)) == pid);
  CHECK_FALSE(decode_pid_record("1234"));
  CHECK_FALSE(decode_pid_record("-1 5"));
  CHECK_FALSE(decode_pid_record("12x 5"));

  ExitRecord exit{143, 15};
  CHECK(decode_exit_record(encode_exit_record(exit)) == exit);
  CHECK(decode_exit_record("exit_code=3\nsignal=0\n") == ExitRecord{3, 0});
  CHECK_FALSE(decode_exit_record("signal=9\n"));
  CHECK_FALSE(decode_exit_record("exit_code=abc\n"));

  ExecutorRecord record{"daemon-a", "pool-1", "app-7", 42, 3, "berth-app-7-exec-42"};
  auto decoded = decode_executor_record(encode_executor_record(record));
  REQUIRE(decoded.ok());
  CHECK(*decoded == record);
  CHECK(decode_executor_record("{").status().code() == StatusCode::kInvalidArgument);
  CHECK(decode_executor_record("[1]").status().code() == StatusCode::kInvalidArgument);
  CHECK(decode_executor_record(R"({"daemon_id":"d"})").status().code() == StatusCode::kInvalidArgument);

  ExecutorRecord sized{"daemon-a", "pool-1", "app-7", 43, 3, "berth-app-7-exec-43", 4, 9216};
  decoded = decode_executor_record(encode_executor_record(sized));
  REQUIRE(decoded.ok());
  CHECK(*decoded == sized);
  // Written before capacity was tracked: needs nothing.
  decoded = decode_executor_record(
      R"({"version":1,"daemon_id":"d","pool":"p","app":"a","executor":1,"profile":0,"backend_name":"b"})");
  REQUIRE(decoded.ok());
  CHECK(decoded->cores == 0);
  CHECK(decoded->memory_mib == 0);
}

TEST_CASE("launch records round-trip") {
  LaunchRecord record{17, {"/bin/sh", "-c", "echo \"hi\"; exit 3"}, {{"A", "1"}, {"SECRET", "x=y z"}}};
  auto decoded = decode_launch_record(encode_launch_record(record));
  REQUIRE(decoded.ok());
  CHECK(*decoded == record);
  CHECK(decode_launch_record("{").status().code() == StatusCode::kInvalidArgument);
  CHECK(decode_launch_record(R"({"sequence":1,"command":"sh","env":{}})").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(decode_launch_record(R"({"sequence":1,"command":["sh",2],"env":{}})").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(decode_launch_record(R"({"sequence":-1,"command":[],"env":{}})").status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("exit records map to exit codes, reasons and who sent the signal") {
  ExecutorDir dir;
  dir.record = ExecutorRecord{"d", "p", "app", 1, 0, "app-exec-1"};

  auto exited = exited_object(dir, ExitRecord{3, 0});
  CHECK(exited.phase == ObservedPhase::kExited);
  CHECK(exited.exit_code == 3);
  CHECK(exited.reason == "exited");
  CHECK_FALSE(exited.deleted_externally);
  CHECK(exited.app == "app");
  CHECK(exited.executor == 1);

  auto term = exited_object(dir, ExitRecord{128 + SIGTERM, SIGTERM});
  CHECK(term.exit_code == 143);
  CHECK(term.reason == "signal 15");
  CHECK(term.deleted_externally);  // nobody at Berth asked for it
  auto killed = exited_object(dir, ExitRecord{128 + SIGKILL, SIGKILL});
  CHECK(killed.exit_code == 137);
  CHECK(killed.reason == "killed");
  CHECK(killed.deleted_externally);

  dir.stop_requested = true;
  CHECK_FALSE(exited_object(dir, ExitRecord{143, SIGTERM}).deleted_externally);
  CHECK_FALSE(exited_object(dir, ExitRecord{137, SIGKILL}).deleted_externally);
  CHECK(exited_object(dir, ExitRecord{128 + SIGPWR, SIGPWR}).deleted_externally);
  dir.decommission_requested = true;
  CHECK_FALSE(exited_object(dir, ExitRecord{128 + SIGPWR, SIGPWR}).deleted_externally);
  CHECK(exited_object(dir, ExitRecord{128 + SIGSEGV, SIGSEGV}).deleted_externally);
}

// Issue 11: files read back from an executor's directory are regular files within a cap; a FIFO,
// a device or a directory in their place is an error naming the file, never a hang or an
// endless read.
TEST_CASE("records that are not regular files, or too large, are refused") {
  TempDir dir;
  const auto executor_json = dir.path() / kExecutorFile;
  REQUIRE(::mkfifo(executor_json.c_str(), 0600) == 0);
  auto fifo = read_executor_dir(dir.path());
  CHECK(fifo.status().code() == StatusCode::kInvalidArgument);
  CHECK(fifo.status().message() == "cannot read " + executor_json.string() + ": not a regular file (a FIFO)");
  std::filesystem::remove(executor_json);

  std::ofstream(executor_json) << std::string(kMaxRecordBytes + 1, ' ');
  auto large = read_executor_dir(dir.path());
  CHECK(large.status().code() == StatusCode::kInvalidArgument);
  CHECK(large.status().message() == "cannot read " + executor_json.string() + ": larger than 64 KiB");
  std::filesystem::remove(executor_json);
  CHECK(read_executor_dir(dir.path()).status().code() == StatusCode::kNotFound);

  std::filesystem::create_symlink("/dev/zero", dir.path() / kQueuedFile);
  auto queued = read_launch_record(dir.path());
  CHECK(queued.status().code() == StatusCode::kInvalidArgument);
  CHECK(queued.status().message() ==
        "cannot read " + (dir.path() / kQueuedFile).string() + ": not a regular file (a character device)");

  std::filesystem::create_symlink("/dev/zero", dir.path() / kPidFile);
  CHECK_FALSE(read_small_file(dir.path() / kPidFile));
  std::filesystem::create_directory(dir.path() / kExitFile);
  CHECK_FALSE(read_small_file(dir.path() / kExitFile));
}
