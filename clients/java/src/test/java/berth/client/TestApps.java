package berth.client;

import berth.v1.Berth;
import java.time.Duration;
import java.util.List;
import java.util.UUID;

/** Requests and waits the tests share. */
public final class TestApps {
  private TestApps() {}

  public static String newAppId(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  /** An application on the local pool whose executors are `sleep 3600` carrying the marker. */
  public static Berth.RegisterApplicationRequest localApp(Berthd daemon, String appId, long leaseTtlSeconds) {
    return Berth.RegisterApplicationRequest.newBuilder()
        .setAppId(appId)
        .addPools("local")
        .addProfiles(Berth.ResourceProfile.newBuilder().setId(0).setCores(1).setHeapMib(512))
        .setLaunch(Berth.LaunchSpec.newBuilder().addCommand("sleep").addArgs("3600").putAllEnv(daemon.executorEnv()))
        .setDriver(Berth.Driver.newBuilder().setUrl("spark://CoarseGrainedScheduler@127.0.0.1:7078"))
        .setLeaseTtlSeconds(leaseTtlSeconds)
        .build();
  }

  /** Waits until exactly n executors of the app are RUNNING; returns them. */
  public static List<Berth.Executor> waitRunning(BerthClient client, String appId, int n) {
    return Berthd.waitFor(Duration.ofSeconds(30), n + " RUNNING executors of " + appId, () -> {
      List<Berth.Executor> running = client.listExecutors(appId, Berth.ExecutorState.RUNNING).getExecutorsList();
      return running.size() == n ? running : null;
    });
  }
}
