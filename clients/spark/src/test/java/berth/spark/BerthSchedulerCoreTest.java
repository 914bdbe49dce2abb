package berth.spark;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import berth.client.BerthClient;
import berth.client.Berthd;
import berth.client.TestApps;
import berth.v1.Berth;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The plug-in's logic (what the Spark scheduler backend does) against a real berthd on the local
 * backend: registration from Spark conf, totals with locality, kills, decommission, loss
 * reasons, the lease, and unregistration on stop.
 */
public class BerthSchedulerCoreTest {
  private static Berthd daemon;

  @BeforeClass
  public static void startDaemon() throws Exception {
    daemon = new Berthd().start();
  }

  @AfterClass
  public static void stopDaemon() throws Exception {
    if (daemon != null) daemon.close();
  }

  /** Records the listener's calls. */
  static final class Losses implements BerthSchedulerCore.Listener {
    final Map<String, ExecutorLoss> lost = new HashMap<>();
    final List<List<String>> conditions = new ArrayList<>();
    int duplicates;

    @Override public synchronized void executorLost(String id, ExecutorLoss loss) {
      if (lost.put(id, loss) != null) ++duplicates;
    }
    @Override public synchronized void conditionsChanged(List<String> now) { conditions.add(now); }
    synchronized ExecutorLoss of(String id) { return lost.get(id); }
  }

  /** Spark conf as a driver would have it: executors are `sleep 3600` carrying the marker. */
  static Map<String, String> sparkConf() {
    Map<String, String> conf = new HashMap<>();
    conf.put("spark.berth.pools", "local");
    conf.put("spark.berth.executor.command", "sleep");
    conf.put("spark.berth.executor.args", "3600");
    conf.put("spark.executorEnv." + Berthd.MARKER_VAR, daemon.marker);
    conf.put("spark.berth.executor.label.team", "analytics");
    conf.put("spark.berth.leaseTtl", "4s");
    conf.put("spark.berth.keepAliveInterval", "500ms");
    return conf;
  }

  static BerthSchedulerCore core(Losses losses) {
    return new BerthSchedulerCore(BerthConf.of("berth://" + daemon.address(), sparkConf()), losses);
  }

  /** The pid of executor {@code id}'s process (`sleep`), from its environment. */
  static long executorPid(String app, long id) {
    return Berthd.waitFor(Duration.ofSeconds(10), "the process of executor " + id, () -> {
      for (long pid : daemon.markedProcesses()) {
        try {
          String comm = Files.readString(Path.of("/proc/" + pid + "/comm")).strip();
          String env = new String(Files.readAllBytes(Path.of("/proc/" + pid + "/environ")));
          if (comm.equals("sleep") && env.contains("SPARK_APPLICATION_ID=" + app + "\0")
              && env.contains("SPARK_EXECUTOR_ID=" + id + "\0")) {
            return pid;
          }
        } catch (Exception e) {
          // gone
        }
      }
      return null;
    });
  }

  @Test
  public void masterUrlsAndConf() {
    assertTrue(BerthConf.accepts("berth://a:1"));
    assertFalse(BerthConf.accepts("k8s://a:1"));
    assertEquals(List.of("a:7433", "b:7433"), BerthConf.addressesOf("berth://a:7433,b:7433/"));
    try {
      BerthConf.addressesOf("berth://nohost");
      throw new AssertionError("accepted an address without a port");
    } catch (IllegalArgumentException expected) {
      assertTrue(expected.getMessage().contains("host:port"));
    }
    Map<String, String> conf = new HashMap<>();
    conf.put("spark.kubernetes.container.image", "apache/spark:3.5.1");
    conf.put("spark.berth.leaseTtl", "90s");
    BerthConf parsed = BerthConf.of("berth://h:1", conf);
    assertEquals("apache/spark:3.5.1", parsed.launch().getImage());
    assertEquals(Duration.ofSeconds(30), parsed.keepAliveInterval());
    conf.put("spark.berth.executor.image", "mine:1");
    assertEquals("mine:1", BerthConf.of("berth://h:1", conf).launch().getImage());
  }

  static Berth.Executor ended(Berth.ExecutorState state, int code, String reason, boolean byApp, boolean hostLost) {
    Berth.Executor.Builder e = Berth.Executor.newBuilder().setExecutorId(7).setState(state).setHost("node-3")
        .setPool("k8s").setBackendName("berth-app-exec-7")
        .setLoss(Berth.Loss.newBuilder().setReason(reason).setCausedByApp(byApp).setHostLost(hostLost).setMessage("m"));
    if (code >= 0) e.setExitCode(code).setHasExitCode(true);
    return e.build();
  }

  @Test
  public void lossesMapOntoSparksReasons() {
    // {state, exit code, reason, caused by app, host lost} -> {kind, code, caused by app, worker host}
    ExecutorLoss failed = ExecutorLoss.of(ended(Berth.ExecutorState.FAILED, 52, "exited", true, false));
    assertEquals(new ExecutorLoss(ExecutorLoss.Kind.EXITED, 52, true, failed.message(), null), failed);
    ExecutorLoss oom = ExecutorLoss.of(ended(Berth.ExecutorState.FAILED, 137, "oom_killed", true, false));
    assertEquals(137, oom.exitCode());
    assertTrue(oom.message(), oom.message().contains("oom_killed") && oom.message().contains("k8s/berth-app-exec-7"));
    ExecutorLoss done = ExecutorLoss.of(ended(Berth.ExecutorState.SUCCEEDED, 0, "exited", true, false));
    assertEquals(ExecutorLoss.Kind.EXITED, done.kind());
    ExecutorLoss lease = ExecutorLoss.of(ended(Berth.ExecutorState.KILLED, -1, "lease_expired", false, false));
    assertEquals(new ExecutorLoss(ExecutorLoss.Kind.EXITED, -1, false, lease.message(), null), lease);
    ExecutorLoss node = ExecutorLoss.of(ended(Berth.ExecutorState.LOST, -1, "node_lost", false, true));
    assertEquals(new ExecutorLoss(ExecutorLoss.Kind.PROCESS_LOST, -1, false, node.message(), "node-3"), node);
    ExecutorLoss vanished = ExecutorLoss.of(ended(Berth.ExecutorState.LOST, -1, "vanished", false, false));
    assertNull(vanished.workerHost());
    ExecutorLoss refused = ExecutorLoss.of(ended(Berth.ExecutorState.LAUNCH_FAILED, -1, "invalid", false, false));
    assertFalse(refused.causedByApp());
    assertNull(ExecutorLoss.of(ended(Berth.ExecutorState.CANCELLED, -1, "", false, false)));
    assertNull(ExecutorLoss.of(ended(Berth.ExecutorState.RUNNING, -1, "", false, false)));
  }

  @Test
  public void registersScalesKillsAndUnregisters() {
    Losses losses = new Losses();
    String app = TestApps.newAppId("spark");
    BerthSchedulerCore core = core(losses);
    Berth.Application registered = core.start(app, "spark://CoarseGrainedScheduler@10.0.0.5:7078",
        List.of(ProfileSpec.of(0, 2, 1024)), Map.of(0, 2));
    assertEquals(4, registered.getLeaseTtlSeconds());
    assertEquals("analytics", registered.getLaunch().getLabelsOrThrow("team"));
    assertEquals(2, registered.getProfiles(0).getCores());
    try (BerthClient client = BerthClient.connect(daemon.address())) {
      List<Berth.Executor> running = TestApps.waitRunning(client, app, 2);
      assertEquals(List.of("sleep"), client.getApplication(app).getLaunch().getCommandList());

      // Spark's totals with locality hints; a profile berthd was not told about is refused.
      assertTrue(core.requestTotalExecutors(Map.of(0, 3), Map.of(0, 4),
          Map.of(0, Map.of("host-a", 3, "host-b", 1))));
      TestApps.waitRunning(client, app, 3);
      assertFalse(core.requestTotalExecutors(Map.of(5, 1), Map.of(), Map.of()));

      // Spark lowers the total first, then kills by id: the killed executor is not replaced.
      assertTrue(core.requestTotalExecutors(Map.of(0, 2), Map.of(), Map.of()));
      assertTrue(core.killExecutors(List.of("1")));
      Berthd.waitFor(Duration.ofSeconds(10), "executor 1's loss reported", () -> losses.of("1"));
      ExecutorLoss killed = losses.of("1");
      assertEquals(ExecutorLoss.Kind.EXITED, killed.kind());
      assertFalse("a kill is not the app's fault", killed.causedByApp());
      assertTrue(core.hasEnded("1"));
      assertFalse(core.hasEnded("2"));
      TestApps.waitRunning(client, app, 2);

      // An executor killed outside Berth and Spark (SIGKILL of its process): Berth reports it
      // LOST, deleted by someone else, so Spark hears ExecutorProcessLost not caused by the app.
      ProcessHandle.of(executorPid(app, 2)).ifPresent(ProcessHandle::destroyForcibly);
      ExecutorLoss died = Berthd.waitFor(Duration.ofSeconds(15), "executor 2's loss reported", () -> losses.of("2"));
      assertEquals(died.toString(), ExecutorLoss.Kind.PROCESS_LOST, died.kind());
      assertEquals(137, died.exitCode());
      assertFalse(died.causedByApp());
      assertTrue(died.message(), died.message().contains("executor 2") && died.message().contains("SIGKILL"));
      assertNull("the host is still there", died.workerHost());

      // Decommission: berthd accepts running executors, not unknown ones.
      long running3 = TestApps.waitRunning(client, app, 2).stream().mapToLong(Berth.Executor::getExecutorId).max().getAsLong();
      assertEquals(List.of(Long.toString(running3)), core.decommissionExecutors(List.of(Long.toString(running3), "999"), false));

      core.stop("application finished");
      Berth.Application ended = client.getApplication(app);
      assertEquals(Berth.ApplicationPhase.ENDED, ended.getPhase());
      Berthd.waitFor(Duration.ofSeconds(20), "no executor left running", () ->
          client.listExecutors(app, Berth.ExecutorState.RUNNING, Berth.ExecutorState.DECOMMISSIONING)
              .getExecutorsCount() == 0 ? true : null);
      assertEquals(0, losses.duplicates);
    }
  }

  @Test
  public void theLeaseOutlivesItsTtlWhileTheDriverLives() {
    Losses losses = new Losses();
    String app = TestApps.newAppId("spark-lease");
    BerthSchedulerCore core = core(losses);
    long deadline = core.start(app, "spark://CoarseGrainedScheduler@127.0.0.1:7078",
        List.of(ProfileSpec.of(0, 1, 512)), Map.of()).getLeaseDeadline().getSeconds();
    try (BerthClient client = BerthClient.connect(daemon.address())) {
      // Twice the TTL later the application is still ACTIVE: the lease was renewed.
      Berthd.waitFor(Duration.ofSeconds(20), "the lease renewed past two TTLs", () ->
          client.getApplication(app).getLeaseDeadline().getSeconds() >= deadline + 8 ? true : null);
      assertEquals(Berth.ApplicationPhase.ACTIVE, client.getApplication(app).getPhase());
      core.stop("done");
      assertEquals(Berth.ApplicationPhase.ENDED, client.getApplication(app).getPhase());
    }
  }
}
