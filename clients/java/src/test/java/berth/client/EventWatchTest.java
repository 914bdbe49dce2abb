package berth.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import berth.v1.Berth;
import io.grpc.Status;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** EventWatch against a real berthd: snapshot, live changes, resumption after a crash, RESYNC. */
public class EventWatchTest {
  /** Records what the watch delivers, in order, for the test thread to inspect. */
  static final class Recorder implements WatchListener {
    final List<Berth.Event> events = new ArrayList<>();
    final List<String> resyncs = new ArrayList<>();
    final List<Long> synced = new ArrayList<>();
    final List<Status> errors = new ArrayList<>();
    int disconnects;

    @Override public synchronized void onEvent(Berth.Event event) { events.add(event); }
    @Override public synchronized void onResync(String message) { resyncs.add(message); }
    @Override public synchronized void onSynced(long revision) { synced.add(revision); }
    @Override public synchronized void onDisconnected(Status status) { ++disconnects; }
    @Override public synchronized void onError(Status status) { errors.add(status); }

    synchronized boolean sawExecutor(long id, Berth.ExecutorState state) {
      return events.stream().anyMatch(e -> e.getType() == Berth.Event.Type.EXECUTOR
          && e.getExecutor().getExecutorId() == id && e.getExecutor().getState() == state);
    }

    synchronized List<Berth.Event> snapshot() { return new ArrayList<>(events); }
  }

  @Test
  public void snapshotThenLiveChanges() throws Exception {
    try (Berthd daemon = new Berthd().start(); BerthClient client = BerthClient.connect(daemon.address())) {
      String app = TestApps.newAppId("watch");
      client.registerApplication(TestApps.localApp(daemon, app, 0));
      Recorder recorder = new Recorder();
      try (EventWatch watch = client.watch(app, 0, recorder)) {
        Berthd.waitFor(Duration.ofSeconds(10), "SYNCED", () -> recorder.synced.isEmpty() ? null : true);
        assertEquals(Berth.Event.Type.APPLICATION, recorder.snapshot().get(0).getType());
        client.requestTotalExecutors(app, Map.of(0, 2));
        Berthd.waitFor(Duration.ofSeconds(30), "executors 1 and 2 RUNNING", () ->
            recorder.sawExecutor(1, Berth.ExecutorState.RUNNING) && recorder.sawExecutor(2, Berth.ExecutorState.RUNNING) ? true : null);
        assertTrue(recorder.resyncs.isEmpty());
        assertTrue(watch.revision() >= recorder.synced.get(0));
        // Live revisions only go up.
        long last = 0;
        for (Berth.Event event : recorder.snapshot().subList(1, recorder.snapshot().size())) {
          assertTrue(event.getRevision() > last);
          last = event.getRevision();
        }
      }
      client.unregisterApplication(app, "test done");
    }
  }

  @Test
  public void resumesFromItsLastRevisionAfterTheDaemonCrashes() throws Exception {
    try (Berthd daemon = new Berthd().start()) {
      int port = daemon.port();
      ClientOptions options = ClientOptions.builder().addresses(daemon.address())
          .retries(1000, Duration.ofMillis(50), Duration.ofMillis(300)).build();
      try (BerthClient client = BerthClient.connect(options)) {
        String app = TestApps.newAppId("watch-resume");
        client.registerApplication(TestApps.localApp(daemon, app, 0));
        client.requestTotalExecutors(app, Map.of(0, 2));
        TestApps.waitRunning(client, app, 2);
        Recorder recorder = new Recorder();
        try (EventWatch watch = client.watch(app, 0, recorder)) {
          Berthd.waitFor(Duration.ofSeconds(10), "SYNCED", () -> recorder.synced.isEmpty() ? null : true);
          long before = watch.revision();
          daemon.kill();
          Berthd.waitFor(Duration.ofSeconds(10), "the watch sees the stream break", () -> recorder.disconnects > 0 ? true : null);
          Files.writeString(daemon.dir.resolve("berthd.yaml"), Files.readString(daemon.dir.resolve("berthd.yaml"))
              .replace("127.0.0.1:0\"\nmetrics", "127.0.0.1:" + port + "\"\nmetrics"));
          daemon.start();
          client.killExecutors(app, List.of(1L), true, false);
          Berthd.waitFor(Duration.ofSeconds(20), "executor 1 KILLED through the resumed watch", () ->
              recorder.sawExecutor(1, Berth.ExecutorState.KILLED) ? true : null);
          assertTrue("streams opened: " + watch.streams(), watch.streams() >= 2);
          assertTrue(watch.revision() > before);
          // Resumed from a revision still in the window: no RESYNC, no second snapshot.
          assertTrue(recorder.resyncs.isEmpty());
          assertEquals(1, recorder.synced.size());
          assertTrue(recorder.errors.isEmpty());
        }
        client.unregisterApplication(app, "test done");
      }
    }
  }

  @Test
  public void resyncWhenTheRevisionLeftTheWindow() throws Exception {
    try (Berthd daemon = new Berthd()) {
      String config = Files.readString(daemon.dir.resolve("berthd.yaml"));
      Files.writeString(daemon.dir.resolve("berthd.yaml"), config.replace("backoff_max: 1s}", "backoff_max: 1s, event_window: 5}"));
      daemon.start();
      try (BerthClient client = BerthClient.connect(daemon.address())) {
        String app = TestApps.newAppId("watch-resync");
        client.registerApplication(TestApps.localApp(daemon, app, 0));
        client.requestTotalExecutors(app, Map.of(0, 3));
        TestApps.waitRunning(client, app, 3);
        Recorder recorder = new Recorder();
        try (EventWatch watch = client.watch(app, 1, recorder)) {
          Berthd.waitFor(Duration.ofSeconds(10), "SYNCED after RESYNC", () -> recorder.synced.isEmpty() ? null : true);
          assertEquals(1, recorder.resyncs.size());
          assertTrue(recorder.resyncs.get(0).contains("revision 1 is no longer available"));
          List<Berth.Event> snapshot = recorder.snapshot();
          assertEquals(Berth.Event.Type.APPLICATION, snapshot.get(0).getType());
          assertEquals(4, snapshot.size());
          assertEquals((long) recorder.synced.get(0), watch.revision());
          client.killExecutors(app, List.of(2L), true, false);
          Berthd.waitFor(Duration.ofSeconds(10), "executor 2 KILLED live after the snapshot", () ->
              recorder.sawExecutor(2, Berth.ExecutorState.KILLED) ? true : null);
          assertFalse(recorder.errors.size() > 0);
        }
        client.unregisterApplication(app, "test done");
      }
    }
  }

  @Test
  public void unknownApplicationEndsTheWatch() throws Exception {
    try (Berthd daemon = new Berthd().start(); BerthClient client = BerthClient.connect(daemon.address())) {
      Recorder recorder = new Recorder();
      try (EventWatch watch = client.watch("no-such-app", 0, recorder)) {
        Berthd.waitFor(Duration.ofSeconds(10), "onError", () -> recorder.errors.isEmpty() ? null : true);
        assertEquals(Status.Code.NOT_FOUND, recorder.errors.get(0).getCode());
        assertEquals(1, watch.streams());
      }
    }
  }
}
